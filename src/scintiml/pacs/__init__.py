"""PACS in, PACS out: lung-perfusion triage as a department service (extra ``pacs``: pynetdicom, dicomweb-client).

* :func:`triage_from_pacs` — query (date range, modality, description pattern), retrieve (DICOMweb or DIMSE),
  triage, and store the Secondary Capture and Structured Report back into each study;
* :class:`Listener` — a C-STORE SCP with a persistent on-disk queue that triages studies as they arrive;
* :func:`load_config` — the YAML configuration (``docs/pacs.md``, ``docs/pacs-example.yaml``).
"""

from .config import PacsConfig, load_config, parse_config
from .errors import PacsConfigError, PacsUnavailableError, StudyDataError, StudyRefusedError
from .queue import StudyQueue
from .service import Listener, call_with_retry, connect, matches_description, run_listener, triage_from_pacs
from .worklist import write_worklist

__all__ = ["PacsConfig", "load_config", "parse_config", "PacsConfigError", "PacsUnavailableError",
           "StudyDataError", "StudyRefusedError", "StudyQueue", "Listener", "call_with_retry", "connect",
           "matches_description", "run_listener", "triage_from_pacs", "write_worklist"]
