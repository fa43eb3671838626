"""DICOM series in: exact geometry in millimetres, any orientation and file order, and each
series that is no volume refused in one sentence."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.uid import generate_uid

from napari_mrisr.dicom import find_series, load_series
from napari_mrisr.volume.base import VolumeError

from .helpers import oblique, write_series

#: dcm2niix's voxel order (the last row first) gives affines with a negative determinant.
FLIP = np.diag([1.0, -1.0, 1.0, 1.0])
ORIENTATIONS = {
    "axial": np.diag([0.9, 1.1, 3.0, 1.0]) @ FLIP,
    "coronal": np.array([[1.0, 0, 0, -20], [0, 0, -3.0, 15], [0, 1.2, 0, 7.25], [0, 0, 0, 1]]) @ FLIP,
    "sagittal": np.array([[0, 0, 2.5, -20], [1.0, 0, 0, 15], [0, 1.0, 0, 7.25], [0, 0, 0, 1]]) @ FLIP,
    "oblique": oblique() @ FLIP,
}


@pytest.fixture
def data():
    return (np.random.default_rng(0).random((12, 10, 6)) * 1000).round().astype(np.float32)


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("order", ["ascending", "shuffled"])
def test_a_series_written_from_a_nifti_gives_its_affine_and_voxels(tmp_path, data, orientation, order):
    affine = ORIENTATIONS[orientation]
    assert np.linalg.det(affine[:3, :3]) < 0  # dcm2niix's order of a DICOM series' voxels
    files = [3, 0, 5, 1, 4, 2] if order == "shuffled" else None
    write_series(data, affine, tmp_path / "series", order=files, thickness=2.0)
    (series,) = find_series([tmp_path / "series"])
    assert series.orientation == ("oblique" if orientation == "oblique" else orientation)
    volume = load_series(series)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)
    np.testing.assert_array_equal(volume.data, data)
    assert volume.header["dicom"]["thickness_mm"] == 2.0  # the profile's width, kept apart
    spacing = np.linalg.norm(affine[:3, 2])
    assert np.isclose(volume.spacing[2], spacing)  # from the positions, not SliceThickness


def test_a_right_handed_nifti_comes_back_as_the_same_voxels_in_the_same_places(tmp_path, data):
    affine = oblique()  # positive determinant: DICOM's stacking reads its slices the other way
    write_series(data, affine, tmp_path / "series")
    volume = load_series(tmp_path / "series")
    ours = nib.as_closest_canonical(nib.Nifti1Image(volume.data, volume.affine))
    theirs = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-4)
    np.testing.assert_array_equal(ours.get_fdata(), theirs.get_fdata())


def test_rescale_slope_and_intercept_give_the_real_values(tmp_path, data):
    write_series(data * 0.25 - 100, ORIENTATIONS["axial"], tmp_path / "s", slope=0.25, intercept=-100)
    np.testing.assert_allclose(load_series(tmp_path / "s").data, data * 0.25 - 100)


def test_a_folder_with_several_series_lists_them_and_each_opens(tmp_path, data):
    write_series(data, ORIENTATIONS["axial"], tmp_path / "study" / "a", SeriesNumber=2, SeriesDescription="T1")
    write_series(data[:, :, :4], ORIENTATIONS["coronal"], tmp_path / "study" / "b", SeriesNumber=5, SeriesDescription="T2")
    (tmp_path / "study" / "notes.txt").write_text("not DICOM")
    found = find_series([tmp_path / "study"])
    assert [s.description for s in found] == ["T1", "T2"]
    assert found[0].describe() == "MR 2  T1  axial, 6 x 10 x 12, 1.1 x 0.9 mm, 3 mm thick"
    with pytest.raises(VolumeError, match="holds 2 series .*pick one"):
        load_series(tmp_path / "study")
    assert load_series(found[1]).shape == (12, 10, 4)


def refused(tmp_path, data, **changes) -> str:
    with pytest.raises(VolumeError) as error:
        load_series(tmp_path / "s")
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_missing_slice_is_one_sentence(tmp_path, data):
    write_series(data, ORIENTATIONS["axial"], tmp_path / "s")
    (tmp_path / "s" / "0002.dcm").unlink()
    assert "unequal slice spacing: slices 3 mm apart but 6 mm between slices 2 and 3" in refused(tmp_path, data)


def test_mixed_orientations_or_sizes_are_one_sentence(tmp_path, data):
    uids = {"series": generate_uid(), "study": generate_uid(), "frame": generate_uid()}
    write_series(data[:, :, :3], ORIENTATIONS["axial"], tmp_path / "s", uids=uids)
    write_series(data[:, :, 3:], ORIENTATIONS["oblique"], tmp_path / "t", uids=uids)
    for path in (tmp_path / "t").iterdir():
        shutil.move(path, tmp_path / "s" / f"t{path.name}")
    assert "mixes slice orientations" in refused(tmp_path, data)
    shutil.rmtree(tmp_path / "s")
    write_series(data[:, :, :3], ORIENTATIONS["axial"], tmp_path / "s", uids=uids)
    write_series(data[:8, :, 3:], ORIENTATIONS["axial"], tmp_path / "t2", uids=uids)
    for path in (tmp_path / "t2").iterdir():
        shutil.move(path, tmp_path / "s" / f"u{path.name}")
    assert "mixes image sizes" in refused(tmp_path, data)


def test_a_localiser_a_single_image_and_no_images_are_one_sentence(tmp_path, data):
    write_series(data, ORIENTATIONS["axial"], tmp_path / "s", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    assert "is a localiser" in refused(tmp_path, data)
    shutil.rmtree(tmp_path / "s")
    write_series(data[:, :, :1], ORIENTATIONS["axial"], tmp_path / "s")
    assert "holds one image, not a volume" in refused(tmp_path, data)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "report.txt").write_text("no images here")
    with pytest.raises(VolumeError, match="No DICOM images in"):
        load_series(tmp_path / "empty")


def test_one_file_of_a_series_opens_the_whole_series_beside_it(tmp_path, data):
    # as a viewer does with a file dropped on it; another series in the same folder stays out
    write_series(data, ORIENTATIONS["oblique"], tmp_path / "s")
    write_series(data[:, :, :4], ORIENTATIONS["coronal"], tmp_path / "t", SeriesNumber=5)
    for path in (tmp_path / "t").iterdir():
        shutil.move(path, tmp_path / "s" / f"t{path.name}")
    whole = load_series(next(s for s in find_series([tmp_path / "s"]) if s.number == 3))
    one = load_series(tmp_path / "s" / "0003.dcm")
    assert one.shape == whole.shape == (12, 10, 6)
    np.testing.assert_allclose(one.affine, whole.affine, atol=1e-6)
    np.testing.assert_array_equal(one.data, whole.data)
    assert load_series(tmp_path / "s" / "t0001.dcm").shape == (12, 10, 4)


def test_two_images_at_one_position_are_echoes_not_a_volume(tmp_path, data):
    uids = {"series": generate_uid(), "study": generate_uid(), "frame": generate_uid()}
    write_series(data, ORIENTATIONS["axial"], tmp_path / "s", uids=uids)
    write_series(data, ORIENTATIONS["axial"], tmp_path / "echo2", uids=uids)
    for path in (tmp_path / "echo2").iterdir():
        shutil.move(path, tmp_path / "s" / f"e{path.name}")
    assert "at a position another image already has (echoes or time points?)" in refused(tmp_path, data)


# -- real DICOM files no one here made -----------------------------------------------------------
NIBABEL = Path(nib.__file__).parent


def test_a_real_enhanced_mr_mprage_opens_as_one_volume(tmp_path):
    """nibabel's Philips MPRAGE: one Enhanced MR object of 176 frames (pixels zeroed to keep
    the file small; its geometry is the scanner's)."""
    path = tmp_path / "philips_mprage.dcm"
    path.write_bytes(gzip.decompress((NIBABEL / "nicom/tests/data/philips_mprage.dcm.gz").read_bytes()))
    (series,) = find_series([path])
    assert series.frames == 176 and series.orientation == "sagittal"
    volume = load_series(series)
    assert volume.shape == (256, 256, 176)
    np.testing.assert_allclose(volume.spacing, [1.0, 1.0, 1.0], atol=1e-4)
    assert nib.aff2axcodes(volume.affine)[2] in "RL"  # sagittal slices: the slice axis runs L-R


def test_real_siemens_mosaics_are_refused_with_a_way_out():
    with pytest.raises(VolumeError, match="Siemens mosaic .* convert it with dcm2niix"):
        load_series([NIBABEL / "tests/data/0.dcm", NIBABEL / "tests/data/1.dcm"])


@pytest.mark.parametrize(
    "name",
    ["MR_small.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_bigendian.dcm"],
)
def test_pydicoms_real_mr_slice_in_every_transfer_syntax_stacks_into_a_volume(tmp_path, name):
    """pydicom's real 64 x 64 MR slice, compressed (JPEG-LS, RLE, JPEG 2000) or not, repeated at
    three positions: the pixel handlers from PyPI decode every one to the same voxels."""
    import pydicom
    from pydicom.data import get_testdata_file

    source = pydicom.dcmread(get_testdata_file(name))
    reference = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    iop = [float(v) for v in source.ImageOrientationPatient]
    normal, first = np.cross(iop[:3], iop[3:]), np.asarray(source.ImagePositionPatient, float)
    for k in range(3):  # the same slice at three positions 5 mm apart along its normal
        source.SOPInstanceUID = generate_uid()
        source.ImagePositionPatient = [float(v) for v in first + 5.0 * k * normal]
        source.save_as(tmp_path / f"{k}.dcm")
    volume = load_series(tmp_path)
    assert volume.shape == (64, 64, 3)
    np.testing.assert_allclose(volume.data[:, ::-1, 0].T, reference * float(source.get("RescaleSlope", 1)) + float(source.get("RescaleIntercept", 0)))
