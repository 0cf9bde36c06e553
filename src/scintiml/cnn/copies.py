"""Copies of one acquisition filed as other patients' studies: exact copies (the same counts) and near copies (the
same scan exported again: another bit depth or rescale, another window, shifted by a pixel or two, resampled to another
matrix, with a little noise added, or saved as an 8-bit PNG and read back).

A copy on both sides of the split lets the network be tested on a study it was trained on: its testing AUC is
flattered. What tells one acquisition from another is its **Poisson noise**, not its picture. Two patients' perfusion
scans look alike: on the simulator, the z-normalised 32 × 32 images of different patients reached a correlation of
0.997, above that of a study and its own copy shifted by one pixel diagonally (0.994) or re-windowed (0.977)
(docs/cnn.md, "Copies of a study"). Two acquisitions never share their noise. So each study gets a **noise
fingerprint**: each view area-averaged to :data:`FINGERPRINT_GRID` × :data:`FINGERPRINT_GRID` cells (the same cells of
the field of view whatever the matrix), the cells' second difference along both axes (the 3 × 3 stencil
``[1, -2, 1] ⊗ [1, -2, 1]``, which a picture smooth over a few cells — its level, gradients and curvature — cancels and
the noise does not), centred and scaled to unit length per view. The **similarity** of two studies is the mean over
the views of their fingerprints' correlation, the largest over shifts of up to :data:`SHIFT_REACH` half cells (pixels
of a 128 × 128 view) along each axis: one matrix product per shift, a block of studies at a time. A gain and an
offset of the counts drop out exactly, and a study's fingerprint depends on that study alone.
:data:`NEAR_COPY_THRESHOLD` was measured on simulated studies. What the noise cannot tell — text or a marker burned
into every view at one place makes all studies alike — is caught by counting partners: a study alike to the studies
of more than :data:`MAX_PARTNERS` other patients is "crowded", not taken for a copy (:func:`crowded_studies`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

#: Cells per side of the fingerprint's grid: 2 × 2 pixels of a 128 × 128 view. On 4-pixel cells (32 × 32) the simulated
#: pictures showed through (300 studies, unshifted: different patients correlated up to 0.67 with a 2 × 2
#: checkerboard, 0.28 with the stencil below); on 2-pixel cells even the largest over the 25 shifts stayed at or
#: below 0.136 (3,000 studies).
FINGERPRINT_GRID = 64

#: Largest shift searched, in half cells (pixels of a 128 × 128 view), along each axis: half a cell is matched by cells
#: laid half a cell further on, a whole cell by the neighbouring cell. 5 × 5 = 25 shifts.
SHIFT_REACH = 2

#: Every other difference along each axis is kept: neighbours share cells, and so their noise. Every third needed
#: 2.25 times less arithmetic but let different patients reach 0.178 instead of 0.136 (3,000 simulated studies).
_STRIDE = 2

#: The difference taken over 3 × 3 cells. The 2 × 2 checkerboard (1, -1) let the picture through as the counts grew
#: (different patients up to 0.36 at 4 million counts per view); this one kept them at 0.10 there.
_KERNEL = (1.0, -2.0, 1.0)

#: Similarity from which two studies of three or more views, of different patients, are taken for copies of one
#: acquisition. Measured (docs/cnn.md, "Copies of a study"; 3,000 simulated six-view studies under eight protocols):
#: different patients at most 0.136 over 4,498,500 pairs; a study and its copy at least 0.536 under every listed
#: re-export, added Gaussian noise of 2 % of the view's maximum included. 0.30 leaves 0.16 on one side, 0.24 on the
#: other; with three views different patients reached 0.169 (1,124,250 pairs) and copies still at least 0.533.
NEAR_COPY_THRESHOLD = 0.30

#: With fewer views a study holds less noise to tell, and different patients come closer (1,124,250 pairs of simulated
#: studies: ANT alone up to 0.333, ANT and POST up to 0.231), while a copy stays as alike (one view at least 0.517 but
#: 0.416-0.496 re-windowed to half its maximum; two views at least 0.476): a higher threshold, with less margin.
_FEW_VIEWS_THRESHOLD = {1: 0.45, 2: 0.36}

#: Most other patients one study may be a near copy of. One acquisition filed again is filed under a second
#: PatientID, seldom a third; a study "alike" to the studies of many patients is alike for another reason — text or a
#: marker burned into every view at the same place (simulated: a stamped text block made every pair of 30 studies
#: alike at 0.84, and would have merged every patient into one part of the split), a fixed pattern of the camera, a
#: phantom — which the noise fingerprint cannot tell from a shared acquisition. Such studies are not merged
#: (:attr:`Copies.crowded`).
MAX_PARTNERS = 2

#: Studies whose shifted fingerprints are held at once: 25 shifts × 128 studies × 5,400 values in float32 (69 MB), and
#: their similarities to 3,000 studies (38 MB).
_BLOCK = 128


@dataclass(frozen=True)
class Copies:
    """The copies among ``n`` studies, found once and used both by the split and by the check of a split given by hand.

    Attributes
    ----------
    n : int
        Number of studies searched (:meth:`check` refuses a ``Copies`` of another number of studies).
    exact : list of list of int
        Groups of studies with identical counts (:func:`exact_copies`).
    near : list of (int, int, float)
        Pairs ``(i, j, similarity)``, ``i < j``, of studies under different PatientIDs whose similarity
        (:func:`near_copies`) reaches ``threshold``; pairs within one group of exact copies are left out (said as such).
    threshold : float
        The similarity threshold used.
    crowded : list of int
        Studies alike to the studies of more than :data:`MAX_PARTNERS` other patients, or linked through near copies
        to more than ``MAX_PARTNERS + 1`` patients in all: their likeness is not taken for copies (burned-in text, a
        fixed pattern of the camera), their near pairs are left out of ``near`` (exact copies stay in ``exact``).
    ids : tuple of str, optional
        The PatientIDs the copies were found with (``None``: every study its own patient); :meth:`check` refuses
        other ones, since which studies are crowded depends on them.
    """

    n: int
    exact: list[list[int]] = field(default_factory=list)
    near: list[tuple[int, int, float]] = field(default_factory=list)
    threshold: float = NEAR_COPY_THRESHOLD
    crowded: list[int] = field(default_factory=list)
    ids: tuple[str, ...] | None = None

    def groups(self) -> list[list[int]]:
        """Every group of studies to keep in one part: the groups of exact copies, then the near pairs."""
        return [list(g) for g in self.exact] + [[i, j] for i, j, _ in self.near]

    def check(self, n: int, ids: Sequence[str] | None = None) -> "Copies":
        """``self``, refused when it was found among another number of studies than ``n``, or with other PatientIDs
        than ``ids``.

        Raises
        ------
        ValueError
            ``n`` differs from the number of studies searched, or ``ids`` from the PatientIDs searched with.
        """
        if self.n != n:
            raise ValueError(f"copies were found among {self.n} studies, but {n} are split; find them among these "
                             "studies (scintiml.cnn.copies.find_copies)")
        if _id_tuple(ids, n) != self.ids:
            raise ValueError("copies were found with other PatientIDs than the split's (which studies are one "
                             "patient's changes which are copies); find them with these ids "
                             "(scintiml.cnn.copies.find_copies(counts, ids))")
        return self


def _id_tuple(ids: Sequence[str] | None, n: int) -> tuple[str, ...] | None:
    """``ids`` as a tuple of str (any sequence, a pandas Series by position), refused unless one per study."""
    if ids is None:
        return None
    ids = tuple(str(i) for i in list(ids))
    if len(ids) != n:
        raise ValueError(f"ids gives {len(ids)} PatientIDs for {n} studies; give one per study")
    return ids


def _check_counts(counts: np.ndarray) -> np.ndarray:
    """``counts`` as an array ``(n, views, H, W)`` with at least one view, or a ValueError saying what it is."""
    counts = np.asarray(counts)
    if counts.ndim != 4:
        raise ValueError(f"counts must be (n, views, H, W); got shape {counts.shape}")
    if counts.shape[1] == 0 and len(counts):
        raise ValueError(f"counts holds no view (shape {counts.shape}): every study needs at least one view")
    return counts


def exact_copies(counts: np.ndarray) -> list[list[int]]:
    """Groups of studies whose counts are identical in every view (indices, each group sorted, two or more).

    Two acquisitions never give the same Poisson counts, so identical studies are one acquisition stored twice:
    exported again under a new Study Instance UID, or filed under a second PatientID (a merged record, another
    pseudonym). Studies are grouped by a digest of their bytes, and those sharing it compared value by value.

    Examples
    --------
    >>> x = np.arange(24.0).reshape(4, 1, 2, 3); x[3] = x[1]
    >>> exact_copies(x)
    [[1, 3]]
    """
    counts = _check_counts(counts)
    by_digest: dict[bytes, list[int]] = {}
    for i in range(len(counts)):
        # one study at a time, never a copy of the whole data set. A digest of the bytes, not the per-view totals:
        # acquisitions stopped at a preset count share their totals, and comparing all of them pair by pair took
        # minutes on a few thousand studies
        digest = hashlib.blake2b(np.ascontiguousarray(counts[i]).tobytes(), digest_size=16).digest()
        by_digest.setdefault(digest, []).append(i)
    groups = []
    for members in by_digest.values():
        while len(members) > 1:  # one digest is not yet a copy: confirmed value by value
            first = members[0]
            same = [first] + [j for j in members[1:] if np.array_equal(counts[j], counts[first], equal_nan=True)]
            if len(same) > 1:
                groups.append(same)
            members = [j for j in members if j not in same]  # the first always leaves: no loop on NaN
    return sorted(groups)


def _area_matrix(size: int, grid: int, phase: float = 0.0) -> np.ndarray:
    """``(grid, size)`` weights averaging ``size`` pixels into ``grid`` equal cells (laid ``phase`` cells on) by the
    share of each pixel inside each cell: the same cells of the field of view for any matrix, so that a study resampled
    to another matrix keeps its fingerprint. A cell partly beyond the edge averages the part inside."""
    edges = (np.arange(grid + 1) + phase) * (size / grid)
    lo, hi = edges[:-1, None], np.minimum(edges[1:, None], size)
    pixels = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
    return overlap / np.maximum(overlap.sum(axis=1, keepdims=True), 1e-12)


def _along_columns(x: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``view @ cols.T`` for every view of ``x`` ``(n, views, H, W)``: one plain matrix product (numpy's broadcasting
    matmul of a stack with one matrix runs its own loop, not BLAS: 24 s instead of 0.5 s for 500 studies)."""
    n, views, height, width = x.shape
    return (x.reshape(-1, width) @ cols.T).reshape(n, views, height, -1)


def _along_rows(rows: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``rows @ view`` for every view of ``y`` ``(n, views, H, G)``, as one plain matrix product."""
    n, views, height, grid = y.shape
    cells = rows @ y.transpose(2, 0, 1, 3).reshape(height, -1)  # (grid, n * views * G)
    return cells.reshape(len(rows), n, views, grid).transpose(1, 2, 0, 3)


def _shifts(reach: int) -> list[tuple[float, int]]:
    """Per axis, each shift ``d`` of ``-reach..reach`` half cells as (phase of the cells, offset in whole cells)."""
    return [(0.5 * (d % 2), d // 2) for d in range(-reach, reach + 1)]


def _fingerprints(counts: np.ndarray, shifted: bool, grid: int, reach: int) -> np.ndarray:
    """Fingerprints of a few studies: ``(n, D)``, or with ``shifted`` ``(shifts, n, D)`` for every shift of
    :func:`_shifts` along both axes (the unshifted one among them). A view holding NaN, infinity or values whose
    arithmetic overflows gets a zero fingerprint, quietly: it has no noise to tell, and is found by no search."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _fingerprints_of(counts, shifted, grid, reach)


def _fingerprints_of(counts: np.ndarray, shifted: bool, grid: int, reach: int) -> np.ndarray:
    x = np.asarray(counts, dtype=np.float64)
    n, views, height, width = x.shape
    plan = _shifts(reach) if shifted else [(0.0, 0)]
    margin = max(abs(k) for _, k in _shifts(reach))  # cells kept free at each edge, the same for every fingerprint
    size = grid - len(_KERNEL) + 1  # differences per axis
    differences = {}
    phases = sorted({p for p, _ in plan})
    for px in phases:
        half = _along_columns(x, _area_matrix(width, grid, px))  # the larger product, shared by every row phase
        for py in phases:
            cells = _along_rows(_area_matrix(height, grid, py), half)
            f = sum(_KERNEL[a] * _KERNEL[b] * cells[:, :, a:a + size, b:b + size]
                    for a in range(len(_KERNEL)) for b in range(len(_KERNEL)))
            # a blank view (or one with NaN) has no noise to tell: a zero fingerprint, adding 0 to every similarity
            scale = np.abs(cells).reshape(n, views, -1).max(axis=2, keepdims=True)
            differences[py, px] = f, scale
    out = []
    for (py, ky) in plan:
        for (px, kx) in plan:
            f, scale = differences[py, px]
            f = f[:, :, margin + ky:size - margin + ky:_STRIDE, margin + kx:size - margin + kx:_STRIDE]
            f = f.reshape(n, views, -1)
            f = f - f.mean(axis=2, keepdims=True)
            norm = np.linalg.norm(f, axis=2, keepdims=True)
            usable = np.isfinite(norm) & (norm > 1e-9 * scale)
            f = np.divide(f, norm * np.sqrt(views), out=np.zeros_like(f), where=usable)
            out.append(f.reshape(n, -1).astype(np.float32))
    return np.stack(out) if shifted else out[0]


def study_fingerprints(counts: np.ndarray, block: int = 256) -> np.ndarray:
    """One noise fingerprint per study (the module docstring says what it is).

    Parameters
    ----------
    counts : array (n, views, H, W)
        Studies of any matrix (the views of one study share it).
    block : int
        Studies converted to float64 at a time (memory only: each study's fingerprint is its own).

    Returns
    -------
    array (n, D) of float32
        The dot product of two is the mean over the views of their correlation, unshifted (:func:`similarity`
        searches the shifts). The margin of cells that the shifts need is left out of every fingerprint.

    Examples
    --------
    >>> x = np.random.default_rng(0).poisson(50.0, (2, 2, 64, 64)).astype(float)
    >>> f = study_fingerprints(np.concatenate([x, 3 * x + 7]))  # another gain and offset
    >>> f.shape, bool(np.allclose(f[:2], f[2:], atol=1e-6)), bool(abs(f[0] @ f[1]) < 0.1)  # 2 views x 30 x 30
    ((4, 1800), True, True)
    """
    counts = np.asarray(counts)
    if counts.ndim != 4:
        raise ValueError(f"counts must be (n, views, H, W); got shape {counts.shape}")
    parts = [_fingerprints(counts[i:i + block], False, FINGERPRINT_GRID, SHIFT_REACH)
             for i in range(0, len(counts), block)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two studies ``(views, H, W)``: the mean over the views of their fingerprints' correlation, the
    largest over shifts of ``a`` by up to :data:`SHIFT_REACH` half cells along each axis (as :func:`near_copies`
    computes it for a pair, ``a`` being the study of the lower index).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = rng.poisson(80.0, (1, 128, 128)).astype(float)
    >>> round(similarity(x, np.roll(x, 1, axis=2)), 2), similarity(x, rng.poisson(80.0, (1, 128, 128))) < 0.3
    (1.0, True)
    """
    shifted = _fingerprints(np.asarray(a)[None], True, FINGERPRINT_GRID, SHIFT_REACH)[:, 0]
    return float(np.max(shifted @ study_fingerprints(np.asarray(b)[None])[0]))


def near_copy_threshold(views: int) -> float:
    """The measured similarity threshold for studies of ``views`` views (:data:`NEAR_COPY_THRESHOLD` from three on).

    Examples
    --------
    >>> near_copy_threshold(6), near_copy_threshold(2), near_copy_threshold(1)
    (0.3, 0.36, 0.45)
    """
    return _FEW_VIEWS_THRESHOLD.get(int(views), NEAR_COPY_THRESHOLD)


def near_copies(counts: np.ndarray, ids: Sequence[str] | None = None, threshold: float | None = None,
                block: int = _BLOCK, progress: Callable[[int, int], None] | None = None
                ) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, similarity)``, ``i < j``, of studies of different patients (``ids``; by default every study is
    its own patient) whose :func:`similarity` reaches ``threshold``, sorted.

    A block of studies' shifted fingerprints times every later study's fingerprint, one matrix product for every shift:
    O(n²) arithmetic in BLAS, O(n / block) Python steps (3,000 studies of six views: 4.5 million pairs, 25 products
    each, 1.2·10¹² floating-point operations). Views smaller than :data:`FINGERPRINT_GRID` pixels a side are not
    searched (none is found): their fingerprints hold fewer independent values than those the threshold was measured
    on, and different studies would come closer than it.

    Parameters
    ----------
    counts : array (n, views, H, W)
    ids : sequence of str, optional
        PatientID of each study: one patient's studies are not copies of another patient's.
    threshold : float, optional
        Default: :func:`near_copy_threshold` of the number of views.
    block : int
        Studies whose shifted fingerprints are held at once.
    progress : callable, optional
        ``progress(studies_done, studies)`` after each block: 3,000 studies took 1-3 minutes on 2 cores.

    Examples
    --------
    >>> x = np.random.default_rng(1).poisson(50.0, (3, 1, 64, 64)).astype(float)
    >>> x[2] = np.round(x[0] / 2)  # study 0 at half the bit depth
    >>> [(i, j) for i, j, _ in near_copies(x)]
    [(0, 2)]
    >>> near_copies(x, ids=["A", "B", "A"])  # one patient's two studies: not another patient's copy
    []
    """
    counts = _check_counts(counts)
    n = len(counts)
    ids = _id_tuple(ids, n)
    threshold = near_copy_threshold(counts.shape[1]) if threshold is None else float(threshold)
    if min(counts.shape[2:]) < FINGERPRINT_GRID:
        return []
    patient = np.arange(n) if ids is None else np.unique([str(i) for i in ids], return_inverse=True)[1]
    fingerprints = study_fingerprints(counts)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        shifted = _fingerprints(counts[start:stop], True, FINGERPRINT_GRID, SHIFT_REACH)
        # every shift in one product, not one product per shift: 25 small products, each split among BLAS threads,
        # took 3-5 s for 60 studies on a busy 2-core machine, one product 0.5 s
        every = np.dot(shifted.reshape(-1, shifted.shape[2]), fingerprints[start:].T)
        best = every.reshape(len(shifted), stop - start, -1).max(axis=0)
        rows, cols = np.nonzero(best >= threshold)
        i, j = start + rows, start + cols
        keep = (j > i) & (patient[i] != patient[j])
        pairs.extend((int(a), int(b), float(s)) for a, b, s in zip(i[keep], j[keep], best[rows, cols][keep]))
        if progress is not None:
            progress(stop, n)
    return sorted(pairs)


def find_copies(counts: np.ndarray, ids: Sequence[str] | None = None, threshold: float | None = None,
                progress: Callable[[int, int], None] | None = None) -> Copies:
    """Exact copies (:func:`exact_copies`) and near copies (:func:`near_copies`) among ``counts``.

    Parameters
    ----------
    counts : array (n, views, H, W)
    ids : sequence of str, optional
        PatientID of each study: one patient's studies are not another patient's copies.
    threshold : float, optional
        Similarity from which a pair is a near copy (default: :func:`near_copy_threshold` of the number of views,
        measured).
    progress : callable, optional
        ``progress(studies_done, studies)`` during the near-copy search (:func:`near_copies`).

    Examples
    --------
    >>> x = np.random.default_rng(2).poisson(50.0, (4, 1, 64, 64)).astype(float)
    >>> x[1] = x[0]; x[3] = np.roll(x[2], 1, axis=2)  # an exact copy, and a copy shifted by one pixel
    >>> found = find_copies(x)
    >>> found.exact, [(i, j) for i, j, _ in found.near], found.groups()
    ([[0, 1]], [(2, 3)], [[0, 1], [2, 3]])
    """
    counts = _check_counts(counts)
    ids = _id_tuple(ids, len(counts))
    if threshold is None:
        threshold = near_copy_threshold(counts.shape[1])
    exact = exact_copies(counts)
    group_of = {i: k for k, g in enumerate(exact) for i in g}
    near = [(i, j, s) for i, j, s in near_copies(counts, ids, threshold, progress=progress)
            if group_of.get(i, -1) != group_of.get(j, -2)]  # an exact pair is said as such, not again
    crowded = crowded_studies(near, ids, len(counts), exact=exact)
    near = [(i, j, s) for i, j, s in near if i not in crowded and j not in crowded]
    return Copies(len(counts), exact, near, float(threshold), sorted(crowded), ids)


def crowded_studies(near: Sequence[tuple[int, int, float]], ids: Sequence[str] | None, n: int,
                    max_partners: int = MAX_PARTNERS, exact: Sequence[Sequence[int]] = ()) -> set[int]:
    """Studies that are near copies of studies of more than ``max_partners`` other patients (:data:`MAX_PARTNERS`),
    or that near pairs link to more than ``max_partners + 1`` patients in all.

    Patients are counted, not studies: one patient's three studies alike to one acquisition are one partner, and
    the PatientIDs of a group of ``exact`` copies (:func:`exact_copies`: one acquisition stored twice) count as one.
    Pairs are linked through patients, as the split merges them: A's study like B's, and B's other study like C's,
    link A, B and C. No acquisition is filed under more than ``max_partners + 1`` PatientIDs, so a larger linked
    set is crowded as a whole (the studies of its near pairs).

    Examples
    --------
    >>> star = [(0, 1, 0.8), (0, 2, 0.8), (0, 3, 0.8), (4, 5, 0.9)]  # study 0 is alike to three patients
    >>> sorted(crowded_studies(star, None, 6))  # it, and the three it would merge with it; not the pair 4, 5
    [0, 1, 2, 3]
    >>> sorted(crowded_studies(star, ["A", "B", "B", "B", "C", "D"], 6))  # ... who are one patient
    []
    >>> sorted(crowded_studies([(0, 1, 0.5), (1, 2, 0.5), (2, 3, 0.5)], None, 4))  # a chain of four patients
    [0, 1, 2, 3]
    >>> sorted(crowded_studies([(0, 2, 0.9), (0, 3, 0.9)], None, 4, exact=[[0, 1]]))  # 0 and 1: one acquisition
    []
    """
    keys = list(_id_tuple(ids, n)) if ids is not None else [f"study {i}" for i in range(n)]
    patient = merged_keys(keys, exact)  # one acquisition stored twice: its PatientIDs are one partner
    partners: dict[int, set[str]] = {}
    for i, j, _ in near:
        partners.setdefault(i, set()).add(patient[j])
        partners.setdefault(j, set()).add(patient[i])
    crowded = {i for i, who in partners.items() if len(who - {patient[i]}) > max_partners}
    linked = merged_keys(patient, [(i, j) for i, j, _ in near])  # the patients near pairs link, as the split would
    size: dict[str, set[str]] = {}
    for i in range(n):
        size.setdefault(linked[i], set()).add(patient[i])
    crowded |= {i for i in partners if len(size[linked[i]]) > max_partners + 1}
    return crowded


def merged_keys(keys: Sequence[str], groups: Sequence[Sequence[int]]) -> list[str]:
    """Each of ``keys`` (one per study) replaced by the smallest key it is joined to, transitively, by ``groups``
    (positions of studies taken as one): the keys of studies a split must keep together come out equal.

    Examples
    --------
    >>> merged_keys(["C", "B", "A", "D"], [[0, 1], [1, 2]])
    ['A', 'A', 'A', 'D']
    """
    root = {k: k for k in keys}

    def find(k: str) -> str:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for group in groups:
        first = find(keys[group[0]])
        for j in group[1:]:
            other = find(keys[j])
            if other != first:
                first, other = min(first, other), max(first, other)  # the smaller key names the group: no order
                root[other] = first
    return [find(k) for k in keys]
