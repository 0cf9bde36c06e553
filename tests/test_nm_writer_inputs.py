"""What the NM writers and PlanarStudy take: rounded counts, refused views and spacings, the caller's study kept."""

import json

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from scintiml.imaging import (ImagingError, PlanarStudy, nm_datasets, read_png_study, read_study,  # noqa: E402
                              resample, write_nm_dicom, write_nm_study)


def _study(**views):
    views = views or {"ANT": np.full((8, 8), 5.0), "POST": np.full((8, 8), 7.0)}
    return PlanarStudy(views=views, pixel_spacing_mm=(3.0, 3.0), patient_id="P1")


# ----------------------------------------------------------------------------- A1: fractional counts
def test_fractional_counts_are_rounded_and_counts_accumulated_is_what_the_file_holds(tmp_path):
    # a 64 x 64 view of 0.9 was stored as all 0 while CountsAccumulated said 3686
    (ds,) = nm_datasets(_study(ANT=np.full((64, 64), 0.9)))
    assert np.all(ds.pixel_array == 1)
    assert int(ds.CountsAccumulated) == 4096 == int(ds.pixel_array.sum())
    mixed = np.array([[0.4, 0.6], [2.5, 3.5], [65534.6, 0.0]])  # numpy rounds half to even: 2.5 -> 2, 3.5 -> 4
    (ds,) = nm_datasets(_study(ANT=mixed))
    np.testing.assert_array_equal(ds.pixel_array, [[0, 1], [2, 4], [65535, 0]])
    assert int(ds.CountsAccumulated) == 65542
    # a resampled (float) view written and read back keeps its counts to within rounding
    view = resample(np.full((16, 16), 3.0), (1.5, 1.5), 4.0)
    write_nm_study(_study(ANT=view), tmp_path, layout="per_view")
    back = read_study(tmp_path)
    np.testing.assert_array_equal(back.views["ANT"], np.rint(view))
    assert abs(back.views["ANT"].sum() - view.sum()) <= view.size / 2


def test_every_frame_of_a_multiframe_file_is_rounded_and_counted():
    study = _study(ANT=np.full((4, 4), 1.6), POST=np.full((4, 4), 0.2))
    (ds,) = nm_datasets(study, "multiframe")
    assert ds.pixel_array.shape == (2, 4, 4)
    assert np.all(ds.pixel_array[0] == 2) and np.all(ds.pixel_array[1] == 0)
    assert int(ds.CountsAccumulated) == 32


# ----------------------------------------------------------------------------- A2: views the writer cannot store
@pytest.mark.parametrize("value, phrase", [(np.nan, "view POST has 1 NaN or infinite pixel"),
                                           (np.inf, "view POST has 1 NaN or infinite pixel"),
                                           (-3.0, "view POST has counts from -3 to 7"),
                                           (70000.0, "view POST has counts from 7 to 70000")])
def test_a_pixel_that_cannot_be_a_16_bit_count_is_refused_by_view(tmp_path, value, phrase):
    post = np.full((8, 8), 7.0)
    post[2, 3] = value
    study = _study(ANT=np.full((8, 8), 5.0), POST=post)
    with pytest.raises(ImagingError, match=phrase):
        nm_datasets(study)
    with pytest.raises(ImagingError, match=phrase):
        write_nm_study(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before the folder was made


@pytest.mark.parametrize("shape", [(2, 8, 8), (8,)])
def test_a_view_that_is_not_a_2d_image_is_refused_by_name(shape):
    study = _study()
    study.views["POST"] = np.ones(shape)  # replaced after the study was made: the writer checks again
    with pytest.raises(ImagingError, match=rf"view POST is an array of shape \({shape[0]},"):
        nm_datasets(study)


@pytest.mark.parametrize("layout", ["multiframe", "dual_head"])
def test_views_of_different_sizes_in_one_file_are_refused_by_name(tmp_path, layout):
    study = _study(ANT=np.ones((8, 8)), POST=np.ones((16, 16)))
    with pytest.raises(ImagingError, match="views ANT 8x8, POST 16x16 differ in size"):
        nm_datasets(study, layout)
    with pytest.raises(ImagingError, match="differ in size"):
        write_nm_dicom(study, tmp_path / "a.dcm")
    assert not (tmp_path / "a.dcm").exists()
    assert len(nm_datasets(study, "per_view")) == 2  # one file per view: sizes may differ


def test_a_study_without_views_is_refused():
    with pytest.raises(ImagingError, match="has no views"):
        nm_datasets(PlanarStudy(views={}, pixel_spacing_mm=(3.0, 3.0)))


# ----------------------------------------------------------------------------- A3: pixel spacing
@pytest.mark.parametrize("spacing", [(0.0, 3.0), (-3.0, -3.0), (3.0, np.inf), 0, -1.5])
def test_a_spacing_that_is_not_positive_is_refused_when_the_study_is_made(spacing):
    with pytest.raises(ImagingError, match="is not a pixel spacing"):
        PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=spacing)


def test_a_spacing_the_reader_would_refuse_is_refused_at_write(tmp_path):
    unknown = PlanarStudy(views={"ANT": np.ones((8, 8))}, patient_id="P1")  # NaN: unknown, allowed in memory
    with pytest.raises(ImagingError, match="pixel spacing is .*not known; set pixel_spacing_mm"):
        write_nm_study(unknown, tmp_path / "a")
    for bad in ((0.0, 0.0), (-2.0, 3.0), (np.nan, 3.0), (500.0, 500.0)):
        study = _study()
        study.pixel_spacing_mm = bad  # set after the study was made: the writer checks again
        with pytest.raises(ImagingError, match="pixel spacing"):
            write_nm_dicom(study, tmp_path / "b.dcm")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b.dcm").exists()
    # the bounds are the reader's: what is written at them is read back
    for spacing in ((0.01, 0.01), (100.0, 100.0)):
        study = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=spacing, patient_id="P1")
        assert read_study([write_nm_dicom(study, tmp_path / f"{spacing[0]}.dcm")]).pixel_spacing_mm == spacing


# ----------------------------------------------------------------------------- A4: the caller's study
@pytest.mark.parametrize("write", ["nm_datasets", "write_nm_study", "write_nm_dicom"])
def test_the_callers_study_is_not_changed_and_its_files_share_one_study_uid(tmp_path, write):
    study = _study()
    views, metadata = study.views, dict(study.metadata)
    if write == "nm_datasets":
        uids = {ds.StudyInstanceUID for ds in nm_datasets(study, "per_view")}
    elif write == "write_nm_study":
        uids = {pydicom.dcmread(p).StudyInstanceUID for p in write_nm_study(study, tmp_path, layout="per_view")}
    else:
        uids = {pydicom.dcmread(write_nm_dicom(study, tmp_path / "a.dcm")).StudyInstanceUID}
    assert study.study_instance_uid == "" and study.series_instance_uid == ""
    assert study.views is views and study.metadata == metadata
    assert len(uids) == 1 and next(iter(uids)) != ""
    # a second call makes a new study, not the first one again
    assert nm_datasets(study)[0].StudyInstanceUID not in uids


def test_a_study_uid_the_caller_gave_is_written_and_uid_entropy_gives_the_same_uid_every_time():
    given = PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=(3.0, 3.0), study_instance_uid="1.2.3.4")
    assert nm_datasets(given)[0].StudyInstanceUID == "1.2.3.4"
    seeded = _study()
    seeded.metadata["uid_entropy"] = "seed-7"
    first = {ds.StudyInstanceUID for ds in nm_datasets(seeded)}
    assert first == {ds.StudyInstanceUID for ds in nm_datasets(seeded)} and len(first) == 1
    assert seeded.study_instance_uid == ""


# ----------------------------------------------------------------------------- A5: PlanarStudy checks its fields
def test_planar_study_converts_list_views_and_keeps_arrays_as_they_are():
    ant = np.full((4, 4), 2.0)
    given = {"ANT": ant, "POST": [[1, 2], [3, 4]]}
    study = PlanarStudy(views=given, pixel_spacing_mm=(3.0, 3.0))
    assert study.counts_per_view == {"ANT": 32.0, "POST": 10.0}  # AttributeError on a list before
    assert study.views["ANT"] is ant and isinstance(study.views["POST"], np.ndarray)
    assert isinstance(given["POST"], list) and study.views is not given  # the caller's mapping untouched


def test_a_scalar_spacing_means_square_pixels_and_unknown_spacing_is_kept():
    assert PlanarStudy(views={"ANT": np.ones((2, 2))}, pixel_spacing_mm=3.2).pixel_spacing_mm == (3.2, 3.2)
    assert PlanarStudy(views={"ANT": np.ones((2, 2))}, pixel_spacing_mm=np.array([2.0, 4.0])).pixel_spacing_mm \
        == (2.0, 4.0)
    unknown = PlanarStudy(views={"ANT": np.ones((2, 2))}).pixel_spacing_mm
    assert len(unknown) == 2 and np.all(np.isnan(unknown))


@pytest.mark.parametrize("views, phrase", [
    ([np.ones((8, 8))], "views must be a mapping"),
    ({"ANT": np.ones((2, 8, 8))}, "view 'ANT' is a 3-D array"),
    ({"ANT": np.ones(8)}, "view 'ANT' is a 1-D array"),
    ({"ANT": np.ones((0, 8))}, "view 'ANT' has no pixels"),
    ({"ANT": np.array([["a", "b"]])}, "view 'ANT' holds <U1 values, not numbers"),
    ({"ANT": [[1, 2], [3]]}, "view 'ANT' is not an array of counts"),
    ({1: np.ones((8, 8))}, "view name 1 is not a string"),
])
def test_planar_study_refuses_views_that_are_not_named_2d_images(views, phrase):
    with pytest.raises(ImagingError, match=phrase):
        PlanarStudy(views=views, pixel_spacing_mm=(3.0, 3.0))


@pytest.mark.parametrize("spacing", [(3.0,), (3.0, 3.0, 3.0), "3.0", None, True, (3.0, np.nan)])
def test_planar_study_refuses_what_is_not_a_spacing(spacing):
    with pytest.raises(ImagingError, match="is not a pixel spacing; give two positive numbers in mm"):
        PlanarStudy(views={"ANT": np.ones((8, 8))}, pixel_spacing_mm=spacing)


def test_png_sidecar_spacing_as_one_number_is_read_and_a_wrong_one_names_the_sidecar(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "x_ANT.png")
    sidecar = tmp_path / "s.json"
    sidecar.write_text(json.dumps({"metadata": {"pixel_spacing_mm": 3.125}}))
    assert read_png_study([tmp_path / "x_ANT.png"], sidecar).pixel_spacing_mm == (3.125, 3.125)
    sidecar.write_text(json.dumps({"metadata": {"pixel_spacing_mm": "wide"}}))
    with pytest.raises(ImagingError, match=r"s\.json: pixel_spacing_mm 'wide' is not a pixel spacing"):
        read_png_study([tmp_path / "x_ANT.png"], sidecar)
