"""What can go wrong between scintiml and a PACS, split by what the caller should do about it.

* :class:`PacsConfigError` — the configuration file is wrong: fix it (never retried);
* :class:`PacsUnavailableError` — the PACS is down, timed out or rejected the association: retry later with backoff;
* :class:`StudyDataError` — a study's own data cannot be triaged (corrupt instance, missing view): retried a few
  times (the rest of a study may still be arriving), then moved to the failed queue with the reason;
* :class:`StudyRefusedError` — the model will not score this study (outside its training protocol): failed at once.
"""

from __future__ import annotations

from ..errors import ScintimlError


class PacsConfigError(ScintimlError):
    """The PACS configuration file is missing, malformed or incomplete."""


class PacsUnavailableError(ScintimlError):
    """The PACS could not be reached, timed out, or refused the request (worth retrying)."""


class StudyDataError(ScintimlError):
    """A study's instances cannot be triaged as they are (corrupt, not NM, a view missing)."""


class StudyRefusedError(StudyDataError):
    """The model refuses the study (outside its training protocol): not retried, straight to the failed queue."""
