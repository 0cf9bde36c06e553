"""De-identification of DICOM files: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

What it does, per file (inputs are never modified; outputs go to a new folder):

* every attribute of :data:`BASIC_PROFILE` gets the profile's action — ``X`` remove,
  ``Z`` replace by an empty value, ``D`` replace by a dummy (a pseudonym), ``U``
  replace a UID by a consistent new UID — wherever it appears, sequences included;
* private attributes are removed;
* ``PatientID`` becomes a **pseudonym** and every UID a new one, both from a keyed
  hash (HMAC-SHA256 with the department's key), so the same patient or study maps
  to the same pseudonym across runs and sites that share the key, and nobody
  without the key can reverse or recompute it;
* files flagged ``BurnedInAnnotation = YES`` are not copied (the pixels may hold
  names): they are reported, to be cleaned by hand;
* options: *retain dates shifted* by a per-patient offset (1-365 days, from the
  key), which keeps intervals between studies (Retain Longitudinal Temporal
  Information with Modified Dates Option); *keep acquisition protocol* attributes
  (camera, collimator, energy windows, radiopharmaceutical and activity), which
  matter for model validity;
* ``PatientIdentityRemoved = YES``, ``DeidentificationMethod`` and its code
  sequence are set, and an audit CSV lists every change (never the old values).

:data:`BASIC_PROFILE` covers the attributes of Table E.1-1 that occur in
planar NM and Secondary Capture files of this toolkit's scope (patient,
study, physician, institution, device, dates and UIDs); it is not the full
table of several hundred attributes, so a file from an unusual source should be
checked before it leaves the department.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import ScintimlError

#: keyword -> action (Annex E Table E.1-1, Basic Profile column, for the attributes in scope).
BASIC_PROFILE: dict[str, str] = {
    # patient
    "PatientName": "Z", "PatientID": "D", "PatientBirthDate": "Z", "PatientSex": "Z", "PatientBirthTime": "X",
    "OtherPatientIDs": "X", "OtherPatientIDsSequence": "X", "OtherPatientNames": "X", "PatientAge": "X",
    "PatientSize": "X", "PatientWeight": "X", "PatientAddress": "X", "PatientTelephoneNumbers": "X",
    "PatientMotherBirthName": "X", "MilitaryRank": "X", "BranchOfService": "X", "MedicalRecordLocator": "X",
    "EthnicGroup": "X", "Occupation": "X", "AdditionalPatientHistory": "X", "PatientComments": "X",
    "CountryOfResidence": "X", "RegionOfResidence": "X", "ResponsiblePerson": "X", "PatientReligiousPreference": "X",
    "MedicalAlerts": "X", "Allergies": "X", "SmokingStatus": "X", "PregnancyStatus": "X",
    "IssuerOfPatientID": "X", "PatientInsurancePlanCodeSequence": "X",
    # study / visit
    "AccessionNumber": "Z", "StudyID": "Z", "StudyDate": "Z", "StudyTime": "Z", "SeriesDate": "X",
    "SeriesTime": "X", "AcquisitionDate": "X", "AcquisitionTime": "X", "ContentDate": "Z", "ContentTime": "Z",
    "InstanceCreationDate": "X", "InstanceCreationTime": "X", "AcquisitionDateTime": "X",
    "StudyDescription": "X", "SeriesDescription": "X", "ImageComments": "X", "AdmittingDiagnosesDescription": "X",
    "RequestAttributesSequence": "X", "PerformedProcedureStepID": "X", "PerformedProcedureStepDescription": "X",
    "PerformedProcedureStepStartDate": "X", "PerformedProcedureStepStartTime": "X", "ScheduledProcedureStepID": "X",
    "RequestedProcedureID": "X", "ReasonForStudy": "X", "AdmissionID": "X", "CurrentPatientLocation": "X",
    "ProtocolName": "X",
    # people and places
    "ReferringPhysicianName": "Z", "ReferringPhysicianAddress": "X", "ReferringPhysicianTelephoneNumbers": "X",
    "PerformingPhysicianName": "X", "PhysiciansOfRecord": "X", "NameOfPhysiciansReadingStudy": "X",
    "OperatorsName": "X", "RequestingPhysician": "X", "InstitutionName": "X", "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X", "StationName": "X",
    # device identity
    "DeviceSerialNumber": "X", "DetectorID": "X", "GantryID": "X",
    # UIDs
    "StudyInstanceUID": "U", "SeriesInstanceUID": "U", "SOPInstanceUID": "U", "FrameOfReferenceUID": "U",
    "ReferencedSOPInstanceUID": "U", "MediaStorageSOPInstanceUID": "U", "IrradiationEventUID": "U",
    "ConcatenationUID": "U", "DimensionOrganizationUID": "U", "SynchronizationFrameOfReferenceUID": "U",
}
DATE_KEYWORDS = {
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "InstanceCreationDate",
    "PerformedProcedureStepStartDate",
}
#: Acquisition-protocol attributes kept with ``keep_protocol`` (times are shifted with the dates or removed).
PROTOCOL_KEYWORDS = {"AcquisitionTime", "SeriesDescription", "ProtocolName", "RadiopharmaceuticalStartTime",
                     "DeviceSerialNumber"}


class DeidError(ScintimlError):
    """A de-identification request that cannot be carried out safely."""


def new_key(path: str | Path) -> Path:
    """Write a new random 256-bit key (hex) to ``path``; refuses to overwrite an existing key."""
    path = Path(path)
    if path.exists():
        raise DeidError(f"key file {str(path)!r} exists; a department keeps one key — reuse it")
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


def _read_key(path: str | Path) -> bytes:
    path = Path(path)
    if not path.exists():
        raise DeidError(
            f"key file {str(path)!r} not found; create one once with `scintiml deid IN OUT --key {path} --new-key` "
            "and keep it safe (the same key gives the same pseudonyms)"
        )
    key = path.read_text().strip().encode()
    if len(key) < 32:
        raise DeidError(f"key in {str(path)!r} is too short (at least 32 characters)")
    return key


@dataclass
class Pseudonymizer:
    key: bytes

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def patient_id(self, value: str) -> str:
        return "ANON-" + self._digest("patient", value)[:12].upper()

    def uid(self, value: str) -> str:
        # 2.25.<decimal of a 128-bit number>: the UUID-derived UID root of PS3.5 B.2
        return "2.25." + str(int(self._digest("uid", value)[:32], 16))

    def date_offset_days(self, patient_id: str) -> int:
        return int(self._digest("dateshift", patient_id)[:8], 16) % 365 + 1


@dataclass
class DeidReport:
    written: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    changes: int = 0


def _shift_date(value: str, days: int) -> str:
    try:
        return (datetime.strptime(value[:8], "%Y%m%d") - timedelta(days=days)).strftime("%Y%m%d")
    except ValueError:
        return ""


def deidentify_dataset(ds, pseudo: Pseudonymizer, retain_dates: bool = False, keep_protocol: bool = False,
                       audit: list[dict] | None = None, source: str = ""):
    """Apply the profile to a pydicom Dataset in place; returns it."""
    from pydicom.dataset import Dataset

    audit = audit if audit is not None else []
    original_pid = str(getattr(ds, "PatientID", ""))
    offset = pseudo.date_offset_days(original_pid)

    def log(keyword, action, new=""):
        audit.append({"file": source, "attribute": keyword, "action": action, "new_value": new})

    def walk(dataset: Dataset):
        dataset.remove_private_tags()
        for elem in list(dataset):
            keyword = elem.keyword
            if elem.VR == "SQ":
                if BASIC_PROFILE.get(keyword) == "X":
                    del dataset[elem.tag]
                    log(keyword, "X")
                    continue
                for item in elem.value:
                    walk(item)
                continue
            action = BASIC_PROFILE.get(keyword)
            if keyword in DATE_KEYWORDS and retain_dates and elem.value:
                new = _shift_date(str(elem.value), offset)
                elem.value = new
                log(keyword, f"shifted -{offset} d", new)
                continue
            if keep_protocol and keyword in PROTOCOL_KEYWORDS:
                continue
            if action is None:
                continue
            if action == "X":
                del dataset[elem.tag]
                log(keyword, "X")
            elif action == "Z":
                elem.value = ""
                log(keyword, "Z")
            elif action == "D":
                new = pseudo.patient_id(str(elem.value))
                elem.value = new
                log(keyword, "D", new)
            elif action == "U" and elem.value:
                values = elem.value if elem.VM > 1 else [elem.value]
                new = [pseudo.uid(str(v)) for v in values]
                elem.value = new if elem.VM > 1 else new[0]
                log(keyword, "U", ";".join(new))
        if not keep_protocol:
            for keyword in ("RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime"):
                if keyword in dataset:
                    del dataset[keyword]
                    log(keyword, "X")

    walk(ds)
    if hasattr(ds, "file_meta") and "MediaStorageSOPInstanceUID" in ds.file_meta:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    method = "PS3.15 E.1 Basic Profile (scintiml)"  # LO: at most 64 characters
    codes = [("113100", "Basic Application Confidentiality Profile")]
    if retain_dates:
        method += "; dates shifted"
        codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
    ds.DeidentificationMethod = method
    seq = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        seq.append(item)
    ds.DeidentificationMethodCodeSequence = seq
    return ds


def deidentify_folder(
    in_dir: str | Path, out_dir: str | Path, key_file: str | Path, retain_dates: bool = False,
    keep_protocol: bool = False,
) -> DeidReport:
    """De-identify every DICOM file below ``in_dir`` into ``out_dir`` (same relative layout,
    file names replaced by pseudonymous ones) and write ``out_dir/deid_audit.csv``."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    in_dir, out_dir = Path(in_dir).resolve(), Path(out_dir).resolve()
    if not in_dir.is_dir():
        raise DeidError(f"input folder {str(in_dir)!r} does not exist")
    if out_dir == in_dir or in_dir in out_dir.parents:
        raise DeidError("the output folder must not be the input folder or inside it")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DeidError(f"output folder {str(out_dir)!r} is not empty; choose a new one")
    pseudo = Pseudonymizer(_read_key(key_file))
    report = DeidReport()
    audit: list[dict] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(in_dir.rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
            report.skipped.append({"file": str(path.relative_to(in_dir)), "reason": f"not DICOM ({exc})"})
            continue
        if str(getattr(ds, "BurnedInAnnotation", "NO")).upper() == "YES":
            report.skipped.append({"file": str(path.relative_to(in_dir)), "reason": "BurnedInAnnotation = YES: pixels may hold "
                                   "identifying text; clean the pixels by hand"})
            continue
        deidentify_dataset(ds, pseudo, retain_dates, keep_protocol, audit, source=str(path.relative_to(in_dir)))
        target = out_dir / path.relative_to(in_dir).parent / f"{ds.SOPInstanceUID}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
        report.written.append(str(target))
    report.changes = len(audit)
    with open(out_dir / "deid_audit.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "attribute", "action", "new_value"])
        writer.writeheader()
        writer.writerows(audit)
        for s in report.skipped:
            writer.writerow({"file": s["file"], "attribute": "", "action": "skipped", "new_value": s["reason"]})
    return report
