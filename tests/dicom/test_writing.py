"""A derived DICOM series out: the SR grid's geometry to 1e-3 mm through dcm2niix, the source's
patient, study and frame of reference, new UIDs, written whole into a new folder or not at all."""

from __future__ import annotations

import glob
import gzip
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_mrisr.dicom import find_series, load_series
from napari_mrisr.dicom.writing import save_series, series_description
from napari_mrisr.volume.base import Volume, VolumeError

from .helpers import oblique, write_series
from .test_reading import FLIP, NIBABEL

needs_dcm2niix = pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix (Debian package dcm2niix) is not installed")


@pytest.fixture
def source(tmp_path):
    """A real-looking source series read back, and an SR volume on its x2 grid."""
    data = (np.random.default_rng(1).random((12, 10, 6)) * 800).round().astype(np.float32)
    write_series(data, oblique() @ FLIP, tmp_path / "source")
    lr = load_series(tmp_path / "source")
    sr = Volume(np.random.default_rng(2).random((24, 20, 12)).astype(np.float32) * 900,
                lr.affine @ np.diag([0.5, 0.5, 0.5, 1.0]) @ _centre_shift(), "sr", lr.header)  # fmt: skip
    return lr, sr


def _centre_shift() -> np.ndarray:
    shift = np.eye(4)
    shift[:3, 3] = -0.5  # the x2 grid rule: SR voxel 0 sits half an SR voxel before LR voxel 0's centre
    return shift


def dcm2niix(folder: Path, out: Path) -> nib.Nifti1Image:
    out.mkdir()
    subprocess.run(["dcm2niix", "-z", "y", "-o", str(out), "-f", "x", str(folder)], check=True, capture_output=True)
    return nib.load(glob.glob(str(out / "*.nii.gz"))[0])


def test_the_written_series_reads_back_on_the_sr_grid(tmp_path, source):
    lr, sr = source
    folder = save_series(sr, tmp_path / "sr", series_description((2, 2, 2), "mni-x2-iso"), lr.header["dicom"])
    back = load_series(folder)
    np.testing.assert_allclose(back.affine, sr.affine, atol=1e-4)
    step = (sr.data.max() - sr.data.min()) / 65535
    np.testing.assert_allclose(back.data, sr.data, atol=step / 2 + 1e-3)


@needs_dcm2niix
def test_dcm2niix_gives_our_affine_and_voxels_for_the_written_series(tmp_path, source):
    lr, sr = source
    folder = save_series(sr, tmp_path / "sr", "SR x2 test", lr.header["dicom"])
    theirs = dcm2niix(folder, tmp_path / "nii")
    np.testing.assert_allclose(theirs.affine, sr.affine, atol=1e-3)
    step = (sr.data.max() - sr.data.min()) / 65535
    np.testing.assert_allclose(theirs.get_fdata(), sr.data, atol=step / 2 + 1e-3)


@needs_dcm2niix
def test_dcm2niix_gives_our_affine_and_voxels_for_the_series_we_read(tmp_path):
    data = (np.random.default_rng(3).random((12, 10, 6)) * 800).round().astype(np.float32)
    write_series(data, oblique() @ FLIP, tmp_path / "s", order=[2, 5, 0, 3, 1, 4])
    ours, theirs = load_series(tmp_path / "s"), dcm2niix(tmp_path / "s", tmp_path / "nii")
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-3)
    np.testing.assert_array_equal(ours.data, theirs.get_fdata())


@needs_dcm2niix
def test_dcm2niix_places_the_real_philips_mprage_where_we_do(tmp_path):
    """dcm2niix turns this 3D acquisition to its closest canonical orientation; the voxels'
    places in millimetres are the same."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "mprage.dcm").write_bytes(gzip.decompress((NIBABEL / "nicom/tests/data/philips_mprage.dcm.gz").read_bytes()))
    ours, theirs = load_series(tmp_path / "s"), dcm2niix(tmp_path / "s", tmp_path / "nii")
    canonical = nib.as_closest_canonical(nib.Nifti1Image(ours.data, ours.affine))
    assert canonical.shape == theirs.shape
    np.testing.assert_allclose(canonical.affine, theirs.affine, atol=1e-3)


def test_the_new_series_is_derived_with_new_uids_in_the_source_study(tmp_path, source):
    lr, sr = source
    folder = save_series(sr, tmp_path / "sr", series_description((1, 1, 4), "self-supervised"), lr.header["dicom"])
    images = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    first, original = images[0], pydicom.dcmread(next((tmp_path / "source").iterdir()))
    assert len(images) == 12 and list(first.ImageType) == ["DERIVED", "SECONDARY"]
    assert first.SeriesDescription == "SR x4 self-supervised (napari-mrisr 0.1.0)"
    assert first.StudyInstanceUID == original.StudyInstanceUID
    assert first.FrameOfReferenceUID == original.FrameOfReferenceUID
    assert first.SeriesInstanceUID != original.SeriesInstanceUID
    assert len({im.SOPInstanceUID for im in images}) == 12 and first.SOPInstanceUID != original.SOPInstanceUID
    assert (first.PatientName, first.PatientID) == (original.PatientName, original.PatientID)
    assert first.SeriesNumber == original.SeriesNumber + 1000
    (series,) = find_series([folder])
    assert series.orientation == "oblique" and series.frames == 12


def test_the_source_folder_and_a_full_folder_are_never_written_into(tmp_path, source):
    lr, sr = source
    before = sorted(p.name for p in (tmp_path / "source").iterdir())
    with pytest.raises(FileExistsError, match="written into a new folder"):
        save_series(sr, tmp_path / "source", "SR", lr.header["dicom"])
    assert sorted(p.name for p in (tmp_path / "source").iterdir()) == before


def test_a_crash_mid_series_leaves_no_folder_and_no_temporary(tmp_path, source, monkeypatch):
    lr, sr = source
    written = []
    real = pydicom.Dataset.save_as

    def crash_on_the_fifth(self, path, *args, **kwargs):
        written.append(path)
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pydicom.Dataset, "save_as", crash_on_the_fifth)
    with pytest.raises(OSError):
        save_series(sr, tmp_path / "sr", "SR", lr.header["dicom"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]


def test_sheared_voxels_are_refused_in_one_sentence(tmp_path):
    affine = np.eye(4)
    affine[0, 1] = 0.5
    with pytest.raises(VolumeError, match="sheared voxel axes"):
        save_series(Volume(np.zeros((4, 4, 4)), affine, "s"), tmp_path / "out", "SR")


@needs_dcm2niix
def test_selfsr_of_dcm2niix_output_takes_the_thickness_its_sidecar_states(tmp_path):
    from napari_mrisr.selfsr.grid import AUTO, plan_grid
    from napari_mrisr.volume.io import load_volume

    from ..phantoms import head_phantom

    # 3 mm slices every 5 mm, converted by dcm2niix: the NIfTI and its BIDS sidecar (x.json)
    data = (head_phantom((24, 24, 8)) * 10).round()
    write_series(data, np.diag([1.0, 1.0, 5.0, 1.0]) @ FLIP, tmp_path / "dicom", thickness=3.0)
    dcm2niix(tmp_path / "dicom", tmp_path / "nifti")
    scan = load_volume(tmp_path / "nifti" / "x.nii.gz")
    assert scan.header["sidecar"]["thickness_mm"] == 3.0
    grid = plan_grid(scan, profile=AUTO)
    assert (grid.thickness, grid.profile, grid.estimate["source"]) == (3.0, "rect", "sidecar")
    assert grid.estimate["note"] == (
        "Slice thickness from x.json (the scan's sidecar): 3 mm, taken as a rect profile "
        "(spacing 5 mm: a 2 mm gap)."
    )
