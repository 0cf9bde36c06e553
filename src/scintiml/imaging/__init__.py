"""Planar nuclear-medicine images: DICOM NM I/O, de-identification, radiomic features (extra ``imaging``)."""

from .dicom_outputs import TRIAGE_DISCLAIMER, secondary_capture, structured_report
from .ingest import read_studies, read_study, resample, unread_studies
from .nm_iod import VIEW_ORIENTATION, nm_datasets, view_code, write_nm_study
from .planar import ImagingError, PlanarStudy, read_nm_dicom, read_png_study, scan_folder, write_nm_dicom

__all__ = ["PlanarStudy", "ImagingError", "read_nm_dicom", "write_nm_dicom", "read_png_study", "scan_folder",
           "read_studies", "read_study", "unread_studies",
           "resample", "nm_datasets", "write_nm_study", "view_code", "VIEW_ORIENTATION",
           "secondary_capture", "structured_report", "TRIAGE_DISCLAIMER"]
