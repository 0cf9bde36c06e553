"""DICOMweb (QIDO-RS search, WADO-RS retrieve, STOW-RS store) through ``dicomweb-client``.

Every network failure becomes :class:`~scintiml.pacs.errors.PacsUnavailableError` (the caller retries with its
own backoff, so the library's built-in retry is switched off) — except an HTTP 4xx other than 408/429, which
means the request itself is wrong (bad URL, wrong credentials) and is reported at once as a configuration error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..imaging.ingest import dicom_text as _text
from .config import PacsEndpoint, Query
from .errors import PacsConfigError, PacsUnavailableError
from .queue import safe_name

__all__ = ["DicomwebPacs"]

_STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "StudyDate", "StudyDescription", "ModalitiesInStudy",
                 "AccessionNumber")


class DicomwebPacs:
    """A PACS reached over DICOMweb.

    Parameters
    ----------
    endpoint : PacsEndpoint
        ``protocol: dicomweb`` with ``url`` (and optional ``auth``, ``verify``, ``timeout_s``).

    Examples
    --------
    >>> from scintiml.pacs.config import PacsEndpoint
    >>> pacs = DicomwebPacs(PacsEndpoint("dicomweb", url="http://localhost:1/dicom-web", timeout_s=0.5))
    >>> pacs.describe()
    'DICOMweb http://localhost:1/dicom-web'
    """

    def __init__(self, endpoint: PacsEndpoint):
        self.endpoint = endpoint
        self._client = None

    def describe(self) -> str:
        """Where it points, for log lines (never the credentials)."""
        return f"DICOMweb {self.endpoint.url}"

    def _web(self):
        if self._client is None:
            from dicomweb_client.api import DICOMwebClient
            from dicomweb_client.session_utils import create_session

            session = create_session()
            auth = self.endpoint.auth
            if auth.token:
                session.headers["Authorization"] = f"Bearer {auth.token}"
            elif auth.username:
                session.auth = (auth.username, auth.password or "")
            session.verify = self.endpoint.verify
            client = DICOMwebClient(url=self.endpoint.url, session=session, timeout=self.endpoint.timeout_s)
            client.set_http_retry_params(retry=False)  # our RetryPolicy decides
            self._client = client
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        import requests

        try:
            return fn(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                raise PacsConfigError(f"{self.describe()}: {what} refused (HTTP {status}); check the credentials "
                                      "in the configuration (auth.username / password_env / token_env)") from None
            if status == 404 and what.startswith("retrieval of study"):  # the search found it: the url is right
                raise PacsUnavailableError(f"{self.describe()}: {what}: the PACS does not hold it (HTTP 404) — "
                                           "deleted or moved since the search?") from None
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                raise PacsConfigError(f"{self.describe()}: {what} failed with HTTP {status}; check the url in the "
                                      "configuration (it should end at the DICOMweb root, e.g. /dicom-web)") from None
            raise PacsUnavailableError(f"{self.describe()}: {what} failed (HTTP {status})") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "cannot connect"
            raise PacsUnavailableError(f"{self.describe()}: {what} {kind}") from None
        except requests.RequestException as exc:
            raise PacsUnavailableError(f"{self.describe()}: {what} failed ({type(exc).__name__})") from None

    def find_studies(self, query: Query) -> list[dict[str, str]]:
        """QIDO-RS study search by modality and date range (the description pattern is applied by the caller)."""
        import pydicom

        filters: dict[str, str] = {"ModalitiesInStudy": query.modality}
        if query.date_range():
            filters["StudyDate"] = query.date_range()
        found = self._call("study search", self._web().search_for_studies, search_filters=filters,
                           fields=list(_STUDY_FIELDS), limit=query.limit)
        if found is not None and not isinstance(found, list):
            raise PacsUnavailableError(f"{self.describe()}: the study search answered with JSON that is not a list "
                                       "of studies (QIDO-RS); check that the url is the DICOMweb base")
        rows = []
        for item in found or []:
            try:  # an item that is not a DICOM JSON object (a number, bad tag keys) is no study
                ds = pydicom.Dataset.from_json(item)
                row = {k: _text(ds.get(k, "")) for k in _STUDY_FIELDS}
            except Exception as exc:  # noqa: BLE001 - pydicom raises several kinds on foreign JSON
                raise PacsUnavailableError(f"{self.describe()}: the study search answered with JSON that is not "
                                           f"DICOM JSON ({type(exc).__name__}); check that the url is the "
                                           "DICOMweb base") from None
            rows.append(row)
        return rows

    def retrieve_study(self, study_uid: str, folder: str | Path) -> list[Path]:
        """WADO-RS: every instance of the study, written as DICOM files into ``folder``."""
        datasets = self._call(f"retrieval of study {study_uid}", self._web().retrieve_study, study_uid)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for ds in datasets:
            path = folder / f"{safe_name(str(ds.SOPInstanceUID))}.dcm"  # a UID from the network names no path
            ds.save_as(path, enforce_file_format=False)
            paths.append(path)
        return paths

    def store(self, datasets: Sequence) -> None:
        """STOW-RS into each dataset's own study (all of one study per call)."""
        if not datasets:
            return
        study = str(datasets[0].StudyInstanceUID)
        response = self._call(f"storage into study {study}", self._web().store_instances, list(datasets),
                              study_instance_uid=study)
        failed = list(getattr(response, "FailedSOPSequence", []) or [])
        if failed:
            reasons = sorted({str(getattr(f, "FailureReason", "?")) for f in failed})
            raise PacsUnavailableError(f"{self.describe()}: the PACS rejected {len(failed)} result instance(s) "
                                       f"(failure reason {', '.join(reasons)})")
