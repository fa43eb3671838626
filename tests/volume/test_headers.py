"""Saved files keep what the input's header said: xform codes, intent, description, honest qforms."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr._napari.layers import layer_data, volume_from_layer
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.io import load_volume, save_volume

from ..phantoms import head_phantom, oblique_affine

RIGID = oblique_affine()
SHEARED = RIGID @ np.array([[1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def scanner_file(path, affine, qform_code, sform_code, intent=None):
    img = nib.Nifti1Image(head_phantom((10, 12, 8)), affine)
    img.set_qform(affine if qform_code else None, code=qform_code)
    img.set_sform(affine if sform_code else None, code=sform_code)
    if intent:
        img.header.set_intent(intent)
    img.header["descrip"] = b"3D T1 MPRAGE"
    nib.save(img, path)
    return path


@pytest.mark.parametrize(
    ("affine", "qform_code", "sform_code"),
    [(RIGID, 1, 1), (RIGID, 1, 0), (RIGID, 0, 2), (SHEARED, 0, 1), (RIGID, 4, 4)],
    ids=["scanner both", "qform only", "sform only", "sheared sform", "mni both"],
)
def test_saving_keeps_the_xform_codes_and_description(tmp_path, affine, qform_code, sform_code):
    source = scanner_file(tmp_path / "in.nii.gz", affine, qform_code, sform_code)
    saved = nib.load(save_volume(load_volume(source), tmp_path / "out.nii.gz"))
    assert (int(saved.header["qform_code"]), int(saved.header["sform_code"])) == (qform_code, sform_code)
    assert saved.header["descrip"].item() == b"3D T1 MPRAGE"
    np.testing.assert_allclose(saved.affine, nib.load(source).affine, atol=1e-5)


def test_a_sheared_affine_is_never_written_as_a_qform(tmp_path):
    volume = Volume(head_phantom((10, 12, 8)), SHEARED, header={"qform_code": 1, "sform_code": 0})
    saved = nib.load(save_volume(volume, tmp_path / "out.nii.gz"))
    assert int(saved.header["qform_code"]) == 0  # a qform cannot hold the shear
    assert int(saved.header["sform_code"]) == 1  # the sform carries the meaning instead
    np.testing.assert_allclose(saved.affine, SHEARED, atol=1e-5)


def test_without_a_source_header_both_codes_say_aligned(tmp_path):
    saved = nib.load(save_volume(Volume(head_phantom((10, 12, 8)), RIGID), tmp_path / "out.nii.gz"))
    assert (int(saved.header["qform_code"]), int(saved.header["sform_code"])) == (2, 2)


def test_intent_and_codes_survive_interpolation_and_a_napari_layer(tmp_path):
    source = scanner_file(tmp_path / "in.nii.gz", RIGID, 1, 1, intent="t test")
    volume = upsample(load_volume(source), 2, order="cubic")
    data, attributes, _ = layer_data(volume)
    saved = nib.load(save_volume(volume_from_layer(data, attributes), tmp_path / "out.nii.gz"))
    assert (int(saved.header["qform_code"]), int(saved.header["sform_code"])) == (1, 1)
    assert saved.header.get_intent()[0] == "t test"


def test_self_supervised_sr_and_its_disagreement_map_keep_the_scan_codes(tmp_path):
    from napari_mrisr.cli import main

    thick = oblique_affine((1.0, 1.0, 4.0))  # 4 mm slices: something for self-SR to restore
    source = scanner_file(tmp_path / "in.nii.gz", thick, 1, 4)
    out, doubt = tmp_path / "sr.nii.gz", tmp_path / "doubt.nii.gz"
    assert main(["selfsr", str(source), str(out), "--disagreement", str(doubt), "--steps", "1", "--device", "cpu"]) == 0
    for path in (out, doubt):
        saved = nib.load(path)
        assert (int(saved.header["qform_code"]), int(saved.header["sform_code"])) == (1, 4)
        assert saved.header["descrip"].item() == b"3D T1 MPRAGE"
