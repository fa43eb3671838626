"""The Train widget's form -> config, with no Qt: patch scaling, devices, run names, layer files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr.training.config import ConfigError
from napari_mrisr.training.form import config_from_form, form_from_preset, save_for_training
from napari_mrisr.volume.base import Volume

from ..phantoms import head_phantom, oblique_affine


def test_a_preset_fills_the_form_and_the_form_overrides_the_preset(tmp_path):
    form = form_from_preset("srgan2d")
    assert form.adversarial_steps > 0 and form.patch_edge == 64
    form.patch_edge, form.pretrain_steps, form.lr, form.device = 32, 7, 5e-4, "cuda"
    config = config_from_form(form, output_dir=tmp_path)
    # srgan2d's thin slabs keep their shape, scaled to the edge, as multiples of the factors
    assert config.data.patch_size == [4, 32, 32]
    assert config.schedule.pretrain_steps == 7 and config.optim.lr_generator == pytest.approx(5e-4)
    assert config.trainer.accelerator == "cuda"
    assert config.run_dir == tmp_path / form.name


def test_patch_edges_are_rounded_to_multiples_of_the_factors(tmp_path):
    form = form_from_preset("tiny")
    form.patch_edge, form.factors = 16, [2, 2, 3]
    assert config_from_form(form, output_dir=tmp_path).data.patch_size == [16, 16, 15]


def test_an_existing_run_is_never_reused(tmp_path):
    form = form_from_preset("tiny")
    (tmp_path / form.name).mkdir()
    (tmp_path / f"{form.name}-2").mkdir()
    assert config_from_form(form, output_dir=tmp_path).name == f"{form.name}-3"


def test_bad_fields_are_refused_with_one_sentence(tmp_path):
    form = form_from_preset("tiny")
    form.name = "a b"
    with pytest.raises(ConfigError, match="name"):
        config_from_form(form, output_dir=tmp_path)
    form = form_from_preset("tiny")
    form.device = "tpu"
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        config_from_form(form, output_dir=tmp_path)


def test_layers_become_files_with_safe_names_and_their_geometry(tmp_path):
    volume = Volume(head_phantom((8, 9, 10)), oblique_affine(), "scan: T1/sag ..")
    (path,) = save_for_training([volume], tmp_path / "layers")
    assert path.endswith("/layers/scan__T1_sag_.nii.gz")  # no slash, no ".."
    img = nib.load(path)
    np.testing.assert_allclose(img.affine, volume.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(img.dataobj), volume.data)
