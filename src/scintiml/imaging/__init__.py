"""Planar nuclear-medicine images: DICOM NM I/O, de-identification, radiomic features (extra ``imaging``)."""

from .planar import ImagingError, PlanarStudy, read_nm_dicom, read_png_study, scan_folder, write_nm_dicom

__all__ = ["PlanarStudy", "ImagingError", "read_nm_dicom", "write_nm_dicom", "read_png_study", "scan_folder"]
