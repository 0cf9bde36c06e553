"""DIMSE (classic DICOM networking) through ``pynetdicom``: C-FIND, C-GET or C-MOVE, C-STORE.

Association rejects, aborts, timeouts and failure statuses become
:class:`~scintiml.pacs.errors.PacsUnavailableError`, which the caller retries with backoff. TLS is used when the
endpoint has a ``tls`` section.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from ..imaging.ingest import dicom_text as _text
from .config import PacsEndpoint, Query, Tls
from .errors import PacsUnavailableError
from .queue import safe_name

__all__ = ["DimsePacs", "STORAGE_CLASSES", "storage_scp"]

#: What scintiml receives (the NM scans) and sends (Secondary Capture, SR); other classes in a study are
#: not needed for triage, and a PACS may answer their C-GET sub-operations with a warning, which is fine.
STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image Storage
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR Storage
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR Storage
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR Storage
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR Storage
)


class DimsePacs:
    """A PACS reached over DIMSE.

    Parameters
    ----------
    endpoint : PacsEndpoint
        ``protocol: dimse`` with host, port, the PACS's AE title, ``retrieve: get|move``, optional ``tls``.
    local_ae_title : str
        Our AE title (the PACS must know it, with our address and port, for C-MOVE and for accepting stores).
    local_port : int
        Where the temporary C-MOVE receiver listens (only used with ``retrieve: move``).

    Examples
    --------
    >>> from scintiml.pacs.config import PacsEndpoint
    >>> DimsePacs(PacsEndpoint("dimse", host="pacs", port=104, ae_title="PACS")).describe()
    'DIMSE PACS@pacs:104'
    """

    def __init__(self, endpoint: PacsEndpoint, local_ae_title: str = "SCINTIML", local_port: int = 11112,
                 local_host: str = "0.0.0.0", local_tls: Tls | None = None):
        self.endpoint = endpoint
        self.local_ae_title = local_ae_title
        self.local_port = local_port
        self.local_host = local_host
        self.local_tls = local_tls

    def describe(self) -> str:
        e = self.endpoint
        return f"DIMSE {e.ae_title}@{e.host}:{e.port}"

    # ------------------------------------------------------------------ association
    def _ae(self):
        from pynetdicom import AE

        ae = AE(ae_title=self.local_ae_title)
        t = self.endpoint.timeout_s
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = t
        ae.connection_timeout = t
        return ae

    def _associate(self, ae, what: str, **kwargs):
        e = self.endpoint
        tls = (e.tls.context(), e.host) if e.tls else None
        try:
            assoc = ae.associate(e.host, e.port, ae_title=e.ae_title, tls_args=tls, **kwargs)
        except OSError as exc:  # TLS handshake or socket errors raised before the association exists
            raise PacsUnavailableError(f"{self.describe()}: {what}: cannot connect ({type(exc).__name__})") from None
        if not assoc.is_established:
            state = "rejected the association" if assoc.is_rejected else "did not answer"
            raise PacsUnavailableError(f"{self.describe()}: {what}: the PACS {state} (check that it knows our AE "
                                       f"title {self.local_ae_title!r})")
        return assoc

    # ------------------------------------------------------------------ C-FIND
    def find_studies(self, query: Query) -> list[dict[str, str]]:
        """C-FIND at study level (Study Root) by modality and date range."""
        from pydicom.dataset import Dataset
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

        ae = self._ae()
        ae.add_requested_context(FIND)
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        for key in ("StudyInstanceUID", "PatientID", "StudyDescription", "AccessionNumber"):
            setattr(ident, key, "")
        ident.StudyDate = query.date_range() or ""
        ident.ModalitiesInStudy = query.modality
        assoc = self._associate(ae, "study search")
        rows = []
        try:
            for status, found in assoc.send_c_find(ident, FIND):
                code = getattr(status, "Status", None)
                if code is None:
                    raise PacsUnavailableError(f"{self.describe()}: study search: no answer (timeout or abort)")
                if code in (0xFF00, 0xFF01) and found is not None:
                    rows.append({k: _text(found.get(k, "")) for k in
                                 ("StudyInstanceUID", "PatientID", "StudyDate", "StudyDescription",
                                  "ModalitiesInStudy", "AccessionNumber")})
                elif code not in (0x0000, 0xFF00, 0xFF01):
                    raise PacsUnavailableError(f"{self.describe()}: study search failed (status 0x{code:04X})")
                if len(rows) >= query.limit:
                    break
        finally:
            assoc.release()
        return rows[: query.limit]

    # ------------------------------------------------------------------ C-GET / C-MOVE
    def retrieve_study(self, study_uid: str, folder: str | Path) -> list[Path]:
        """Every instance of the study into ``folder``, by C-GET or C-MOVE (as configured)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.endpoint.retrieve == "move":
            return self._move(study_uid, folder)
        return self._get(study_uid, folder)

    def _identifier(self, study_uid: str):
        from pydicom.dataset import Dataset

        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = study_uid
        return ident

    def _get(self, study_uid: str, folder: Path) -> list[Path]:
        from pynetdicom import build_role, evt
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

        ae = self._ae()
        ae.add_requested_context(GET)
        for uid in STORAGE_CLASSES:
            ae.add_requested_context(uid)
        roles = [build_role(uid, scp_role=True) for uid in STORAGE_CLASSES]
        written: list[Path] = []
        handler = _writer(folder, written)
        assoc = self._associate(ae, f"retrieval of study {study_uid}", ext_neg=roles,
                                evt_handlers=[(evt.EVT_C_STORE, handler)])
        try:
            self._check_retrieve(assoc.send_c_get(self._identifier(study_uid), GET), study_uid)
        finally:
            assoc.release()
        return written

    def _move(self, study_uid: str, folder: Path) -> list[Path]:
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE

        written: list[Path] = []
        try:
            server = storage_scp(self.local_ae_title, self.local_port, _writer(folder, written), self.local_host,
                                 self.local_tls)
        except OSError as exc:
            raise PacsUnavailableError(f"cannot listen on port {self.local_port} for the C-MOVE ({exc}); is "
                                       "`scintiml listen` already using it?") from None
        try:
            ae = self._ae()
            ae.add_requested_context(MOVE)
            assoc = self._associate(ae, f"retrieval of study {study_uid}")
            try:
                self._check_retrieve(assoc.send_c_move(self._identifier(study_uid), self.local_ae_title, MOVE),
                                     study_uid)
            finally:
                assoc.release()
        finally:
            server.shutdown()
        return written

    def _check_retrieve(self, responses, study_uid: str) -> None:
        final = None
        for status, _ in responses:
            code = getattr(status, "Status", None)
            if code is None:
                raise PacsUnavailableError(f"{self.describe()}: retrieval of study {study_uid}: no answer (timeout)")
            final = status
        code = getattr(final, "Status", 0xC000)
        # 0x0000 success; 0xB000 some sub-operations failed (e.g. a class we did not offer) — the NM
        # instances we need are checked afterwards by the reader, which reports a missing view.
        if code not in (0x0000, 0xB000):
            raise PacsUnavailableError(f"{self.describe()}: retrieval of study {study_uid} failed "
                                       f"(status 0x{code:04X})")

    # ------------------------------------------------------------------ C-STORE
    def store(self, datasets: Sequence) -> None:
        """C-STORE each dataset (Secondary Capture, SR) to the PACS."""
        if not datasets:
            return
        ae = self._ae()
        for uid in sorted({str(ds.SOPClassUID) for ds in datasets}):
            ae.add_requested_context(uid)
        assoc = self._associate(ae, "storage of the results")
        try:
            for ds in datasets:
                status = assoc.send_c_store(ds)
                code = getattr(status, "Status", None)
                if code is None:
                    raise PacsUnavailableError(f"{self.describe()}: storage of {ds.SOPInstanceUID}: no answer")
                if code != 0x0000 and not (0xB000 <= code <= 0xB0FF):
                    raise PacsUnavailableError(f"{self.describe()}: the PACS refused instance {ds.SOPInstanceUID} "
                                               f"(status 0x{code:04X})")
        finally:
            assoc.release()


def storage_scp(ae_title: str, port: int, handler, host: str = "0.0.0.0", tls: Tls | None = None):
    """Start a non-blocking C-STORE SCP (and C-ECHO) on ``host:port``; ``handler(event) -> status``.

    Returns the pynetdicom server; call ``.shutdown()`` to stop it.
    """
    from pynetdicom import AE, evt
    from pynetdicom.presentation import StoragePresentationContexts
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title=ae_title)
    ae.supported_contexts = StoragePresentationContexts
    ae.add_supported_context(Verification)
    ae.require_called_aet = False  # PACSes differ in what they call us; the port is what identifies us
    # A TCP connect that never sends an A-ASSOCIATE-RQ (a port scan, a load balancer's health check) holds an
    # association slot until the ARTIM timer (acse_timeout, 30 s by default) fires: 10 of them locked every
    # sender out. Shorter ARTIM, more slots.
    ae.acse_timeout = 5
    ae.maximum_associations = 50
    return ae.start_server((host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, handler)],
                           ssl_context=tls.context(server=True) if tls else None)


def _writer(folder: Path, written: list[Path]):
    """A C-STORE handler that writes each instance (file meta included) as ``<SOPInstanceUID>.dcm``."""
    lock = threading.Lock()

    def handle(event):
        name = safe_name(str(event.request.AffectedSOPInstanceUID))  # a UID from the network names no path
        path = folder / f"{name}.dcm"
        tmp = folder / f".{name}.part"
        tmp.write_bytes(event.encoded_dataset())
        tmp.replace(path)
        with lock:
            written.append(path)
        return 0x0000

    return handle
