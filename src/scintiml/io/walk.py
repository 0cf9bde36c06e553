"""Every file below a folder, and the folders that could not be read on the way.

``Path.rglob`` skips a subfolder it may not list without a word: ``deid`` and ``radiomics`` then reported a
complete run over a folder whose studies they never saw. :func:`files_below` walks with :func:`os.walk` and
keeps each refusal, so the caller can list what it could not read.
"""

from __future__ import annotations

import os
from pathlib import Path


def files_below(root: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files below ``root`` (sorted, symbolic links to folders not followed) and the unreadable folders.

    Parameters
    ----------
    root : folder

    Returns
    -------
    files : list of Path
        Every entry that is not a folder (regular files, broken links, pipes: the caller decides), sorted.
    unreadable : list of (Path, str)
        Each folder that could not be listed, with the system's reason (``"Permission denied"``).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "a").mkdir(); _ = (root / "a" / "x.dcm").write_text("x"); _ = (root / "y.dcm").write_text("y")
    >>> files, unreadable = files_below(root)
    >>> [str(p.relative_to(root)) for p in files], unreadable
    (['a/x.dcm', 'y.dcm'], [])
    """
    root = Path(root)
    unreadable: list[tuple[Path, str]] = []

    def refused(exc: OSError) -> None:
        unreadable.append((Path(exc.filename) if exc.filename else root, exc.strerror or str(exc)))

    files = []
    for folder, _, names in os.walk(root, onerror=refused):
        files.extend(Path(folder) / name for name in names)
    return sorted(files), sorted(unreadable)
