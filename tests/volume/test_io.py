"""Reading and writing volumes: exact round trips, atomic writes, and every bad input refused."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.io import load_volume, read_bytes, save_volume, volume_name

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mgz", ".mgh"])
def test_round_trip_is_exact(tmp_path, volume, suffix):
    first = tmp_path / f"a{suffix}"
    save_volume(volume, first)
    loaded = load_volume(first)
    np.testing.assert_allclose(loaded.affine, volume.affine, atol=1e-5)  # file stores float32
    np.testing.assert_array_equal(loaded.data, volume.data)
    # Saving what was loaded reproduces data and affine exactly.
    second = tmp_path / f"b{suffix}"
    save_volume(loaded, second)
    again = load_volume(second)
    np.testing.assert_array_equal(again.data, loaded.data)
    if suffix.startswith(".nii"):
        np.testing.assert_array_equal(again.affine, loaded.affine)
    else:  # MGH stores direction cosines, sizes and centre as float32, not the affine itself
        np.testing.assert_allclose(again.affine, loaded.affine, atol=1e-5)
    assert again.name == "b"


def test_reads_scanner_geometry_of_real_files():
    standard = load_volume(NIBABEL_DATA / "standard.nii.gz")
    assert standard.shape == (4, 5, 7)
    np.testing.assert_allclose(standard.spacing, [1, 3, 2])
    np.testing.assert_array_equal(standard.affine, nib.load(NIBABEL_DATA / "standard.nii.gz").affine)
    anatomical = load_volume(NIBABEL_DATA / "anatomical.nii")
    assert anatomical.shape == (33, 41, 25) and anatomical.data.dtype == np.float32
    np.testing.assert_allclose(anatomical.spacing, [2, 2, 2], atol=1e-6)


def test_integer_data_is_scaled_to_float32(write_nifti):
    path = write_nifti(np.arange(60).reshape(3, 4, 5), dtype=np.int16)
    img = nib.load(path)
    img.header.set_slope_inter(0.5, 10)
    nib.save(img, path)
    loaded = load_volume(path)
    assert loaded.data.dtype == np.float32
    assert loaded.data[0, 0, 1] == pytest.approx(10.5)


def test_spacing_is_derived_from_the_affine(volume):
    np.testing.assert_allclose(volume.spacing, [0.9, 1.1, 1.3])


def test_volume_names():
    assert volume_name("/x/T1w.nii.gz") == "T1w"
    assert volume_name("brain.mgz") == "brain"


def test_write_is_atomic(tmp_path, volume, monkeypatch):
    target = tmp_path / "keep.nii.gz"
    save_volume(volume, target)
    before = target.read_bytes()

    def crash(img, filename):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_volume(Volume(volume.data * 2, volume.affine), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.nii.gz"]


def test_save_refuses_unknown_suffix(tmp_path, volume):
    with pytest.raises(VolumeError, match="ending in"):
        save_volume(volume, tmp_path / "a.png")


def test_four_d_series_gives_first_volume_with_warning():
    with pytest.warns(UserWarning, match="4D series of 2 volumes; using the first"):
        loaded = load_volume(NIBABEL_DATA / "example4d.nii.gz")
    expected = np.asanyarray(nib.load(NIBABEL_DATA / "example4d.nii.gz").dataobj)[..., 0]
    np.testing.assert_array_equal(loaded.data, expected.astype(np.float32))


def test_singleton_fourth_axis_is_dropped_silently(write_nifti, recwarn):
    loaded = load_volume(write_nifti(np.ones((3, 4, 5, 1), np.float32)))
    assert loaded.shape == (3, 4, 5)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.nii.gz"
    path.write_bytes(b"this is not a nifti file" * 10)
    return path


def _truncated(tmp_path):
    path = tmp_path / "truncated.nii"
    nib.save(nib.Nifti1Image(np.ones((20, 20, 20), np.float32), np.eye(4)), path)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _truncated_gzip(tmp_path):
    path = tmp_path / "truncated.nii.gz"
    raw = gzip.compress(nib.Nifti1Image(np.random.default_rng(0).random((20, 20, 20)), np.eye(4)).to_bytes())
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _png(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path


def _write(tmp_path, data, affine=None, name="bad.nii", zooms=None, dtype=None):
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.eye(4) if affine is None else affine)
    if zooms is not None:
        img.header.set_zooms(zooms)
    path = tmp_path / name
    nib.save(img, path)
    return path


def _rgb(tmp_path):
    rgb = np.zeros((4, 4, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    return _write(tmp_path, rgb)


def _nan(tmp_path):
    data = np.ones((6, 6, 6), np.float32)
    data[1, 2, 3] = np.nan
    return _write(tmp_path, data)


def _inf(tmp_path):
    data = np.ones((6, 6, 6), np.float32)
    data[0, 0, 0] = np.inf
    return _write(tmp_path, data)


def _zero_spacing_affine(tmp_path):
    img = nib.Nifti1Image(np.ones((6, 6, 6), np.float32), None)
    img.set_sform(np.diag([1.0, 0.0, 1.0, 1.0]), code="scanner")
    path = tmp_path / "bad.nii"
    nib.save(img, path)
    return path


def _raw_pixdim(pixdim):
    """A header written byte by byte: nibabel's writer would 'fix' the spacing."""

    def make(tmp_path):
        header = nib.Nifti1Header()
        header.set_data_shape((6, 6, 6))
        header.set_data_dtype(np.float32)
        header["pixdim"][1:4] = pixdim
        header["vox_offset"] = 352
        path = tmp_path / "bad.nii"
        path.write_bytes(header.binaryblock + b"\0" * 4 + np.ones((6, 6, 6), np.float32).tobytes())
        return path

    return make


def _huge(tmp_path):
    """A header claiming 4096^3 voxels (256 GiB as float32) with almost no data behind it."""
    header = nib.Nifti1Header()
    header.set_data_shape((4096, 4096, 4096))
    header.set_data_dtype(np.float32)
    path = tmp_path / "huge.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 1024)
    return path


BAD_INPUTS = {
    "missing": (lambda tmp: tmp / "nope.nii.gz", "does not exist"),
    "corrupt": (_corrupt, "not a readable NIfTI"),
    "truncated": (_truncated, "truncated or corrupt"),
    "truncated gzip": (_truncated_gzip, "truncated or corrupt"),
    "non-MRI image": (_png, "not a readable NIfTI or MGH/MGZ image"),
    "2D": (lambda tmp: _write(tmp, np.ones((8, 8), np.float32)), "not a 3D volume"),
    "single slice": (lambda tmp: _write(tmp, np.ones((8, 8, 1), np.float32)), "not a 3D volume"),
    "5D": (lambda tmp: _write(tmp, np.ones((4, 4, 4, 2, 2), np.float32)), "only 3D or 4D"),
    "RGB": (_rgb, "RGB or complex"),
    "complex": (lambda tmp: _write(tmp, np.ones((4, 4, 4), np.complex64)), "RGB or complex"),
    "NaN": (_nan, "1 NaN or infinite voxels"),
    "Inf": (_inf, "1 NaN or infinite voxels"),
    "zero spacing in affine": (_zero_spacing_affine, "zero voxel spacing"),
    "zero pixdim": (_raw_pixdim([1.0, 0.0, 1.0]), r"zero or negative voxel spacing \(1.0, 0.0, 1.0\)"),
    "negative pixdim": (_raw_pixdim([1.0, -2.0, 1.0]), "zero or negative voxel spacing"),
    "too large": (_huge, r"needs 2\d\d GiB to read \(4096 x 4096 x 4096 voxels\)"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_refused_with_one_sentence(tmp_path, case):
    make, message = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(VolumeError, match=message) as info:
        load_volume(path)
    text = str(info.value)
    assert "\n" not in text and text.endswith(".")


def test_memory_limit_is_checked_before_reading(tmp_path, volume):
    path = tmp_path / "v.nii"
    save_volume(volume, path)
    # the float32 result and the decoded slab with its copies: what reading really takes
    needed = read_bytes(volume.shape, np.dtype(np.float32))
    assert needed > volume.data.nbytes
    with pytest.raises(VolumeError, match="can be used"):
        load_volume(path, max_bytes=needed - 1)
    assert load_volume(path, max_bytes=needed).shape == volume.shape


def test_volume_refuses_non_3d_and_singular_geometry():
    with pytest.raises(VolumeError, match="must be 3D"):
        Volume(np.zeros((4, 4)), np.eye(4))
    with pytest.raises(VolumeError, match="zero voxel spacing"):
        Volume(np.zeros((4, 4, 4)), np.diag([1, 1, 0, 1]))


def test_a_bids_sidecar_s_slice_thickness_is_kept_in_the_header(write_nifti):
    path = write_nifti(np.ones((4, 4, 3), np.float32), np.diag([1.0, 1.0, 5.0, 1.0]))
    (path.parent / "scan.json").write_text('{"SliceThickness": 3, "SpacingBetweenSlices": 5.0, "EchoTime": 0.01}')
    assert load_volume(path).header["sidecar"] == {
        "file": "scan.json", "thickness_mm": 3.0, "spacing_mm": 5.0, "slice_axis": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "warns"),
    [
        ('{"SliceThickness": 3', True),  # cut short
        ("[3, 5]", True),  # not an object
        ("[" * 100_000 + "]" * 100_000, True),  # nested past the parser's depth
        (" " * (2 << 20) + "{}", True),  # larger than a sidecar is
        ('{"SliceThickness": "3"}', False),  # text, not a number
        ('{"SliceThickness": true}', False),
        ('{"SliceThickness": -3}', False),
        ('{"SliceThickness": NaN}', False),
        ('{"SliceThickness": 1e999}', False),
        ('{"EchoTime": 0.01}', False),  # no thickness stated
    ],
)
def test_a_bad_sidecar_is_skipped_and_the_scan_still_loads(write_nifti, text, warns, recwarn):
    path = write_nifti(np.ones((4, 4, 3), np.float32), np.diag([1.0, 1.0, 5.0, 1.0]))
    (path.parent / "scan.json").write_text(text)
    volume = load_volume(path)
    assert "sidecar" not in volume.header and volume.shape == (4, 4, 3)
    said = [str(w.message) for w in recwarn]
    if warns:
        assert any(m.startswith("'scan.json' beside the scan cannot be read") for m in said), said
    else:
        assert not said


def test_bids_sidecars_above_the_scan_are_inherited_the_nearest_winning(tmp_path):
    # BIDS's inheritance principle: a dataset-wide T1w.json states the thickness for every
    # subject's T1w; a subject's own sidecar overrides it; another subject's or suffix's never
    # applies; outside a BIDS dataset (no dataset_description.json) only the scan's own counts.
    anat = tmp_path / "sub-01" / "ses-1" / "anat"
    anat.mkdir(parents=True)
    path = anat / "sub-01_ses-1_T1w.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 3), np.float32), np.diag([1.0, 1.0, 5.0, 1.0])), path)
    (tmp_path / "T1w.json").write_text('{"SliceThickness": 4, "SpacingBetweenSlices": 5}')
    (tmp_path / "sub-02_T1w.json").write_text('{"SliceThickness": 1}')
    (tmp_path / "sub-01" / "sub-01_T2w.json").write_text('{"SliceThickness": 2}')
    assert "sidecar" not in load_volume(path).header  # not a BIDS dataset yet
    (tmp_path / "dataset_description.json").write_text('{"Name": "test", "BIDSVersion": "1.8.0"}')
    assert load_volume(path).header["sidecar"] == {
        "file": "../../../T1w.json", "thickness_mm": 4.0, "spacing_mm": 5.0, "slice_axis": 2,
    }  # fmt: skip
    from napari_mrisr.selfsr.grid import stated_thickness

    assert stated_thickness(load_volume(path)) == (
        4.0, "sidecar", "../../../T1w.json (the BIDS sidecar above the scan)"
    )
    (tmp_path / "sub-01" / "sub-01_T1w.json").write_text('{"SliceThickness": 3}')
    stated = load_volume(path).header["sidecar"]
    assert (stated["file"], stated["thickness_mm"], stated["spacing_mm"]) == (
        "../../sub-01_T1w.json", 3.0, 5.0,  # the spacing still from the dataset's
    )  # fmt: skip
    (anat / "sub-01_ses-1_T1w.json").write_text('{"SliceThickness": 3.5}')
    assert load_volume(path).header["sidecar"]["file"] == "sub-01_ses-1_T1w.json"
