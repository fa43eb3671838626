"""Random NIfTI headers, within and far beyond what a scanner writes: a volume or one
VolumeError sentence, never another exception, never a hang, nothing written."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.io import load_volume

from .conftest import no_hang

pytestmark = pytest.mark.fuzz

#: A cap that keeps every example small: a volume above it is refused, not read.
CAP = 64 << 20

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -1.0, 1e-6, 1.0, 2.0, 4.0, 1e30]),
)
dims = st.lists(st.one_of(st.integers(-2, 40), st.sampled_from([0, 1, 2**15 - 1, -(2**15)])), min_size=8, max_size=8)


@st.composite
def headers(draw):
    header = nib.Nifti1Header()
    header["dim"] = draw(dims)
    header["datatype"] = draw(st.sampled_from([2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 0, 7, 9999]))
    header["bitpix"] = draw(st.sampled_from([8, 16, 32, 64, 0, 7]))
    header["pixdim"] = draw(st.lists(floats, min_size=8, max_size=8))
    header["vox_offset"] = draw(st.sampled_from([352.0, 0.0, 348.0, 1e9, -5.0, float("nan")]))
    header["scl_slope"] = draw(floats)
    header["scl_inter"] = draw(floats)
    header["qform_code"] = draw(st.integers(-1, 5))
    header["sform_code"] = draw(st.integers(-1, 5))
    for name in ("quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"):
        header[name] = draw(floats)
    for row in ("srow_x", "srow_y", "srow_z"):
        header[row] = draw(st.lists(floats, min_size=4, max_size=4))
    return header


@given(header=headers(), data=st.binary(max_size=4096), compressed=st.booleans())
def test_a_random_header_gives_a_volume_or_one_sentence(tmp_path_factory, header, data, compressed):
    folder = tmp_path_factory.mktemp("headers")
    raw = header.binaryblock + b"\0" * 4 + data
    path = folder / ("scan.nii.gz" if compressed else "scan.nii")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    with no_hang(20):
        try:
            volume = load_volume(path, max_bytes=CAP)
        except VolumeError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(volume, Volume) and np.isfinite(volume.data).all()
            assert volume.data.nbytes <= CAP
    assert [p.name for p in folder.iterdir()] == [path.name]  # nothing written beside it


@given(shape=st.tuples(*[st.integers(2, 12)] * 3), dtype=st.sampled_from(["uint8", "int16", "float32", "float64"]),
       zooms=st.tuples(*[st.sampled_from([0.5, 1.0, 3.0, 7.5])] * 3))  # fmt: skip
def test_a_valid_volume_round_trips_its_geometry(tmp_path_factory, shape, dtype, zooms):
    folder = tmp_path_factory.mktemp("valid")
    data = (np.arange(np.prod(shape)) % 100).reshape(shape).astype(dtype)
    affine = np.diag([*zooms, 1.0])
    nib.save(nib.Nifti1Image(data, affine), folder / "v.nii.gz")
    with no_hang(20):
        volume = load_volume(folder / "v.nii.gz", max_bytes=CAP)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(volume.data, data.astype(np.float32))
