"""Model metadata of the wrong shape or size: one sentence before anything is built, and a bad
file in the user's model folder is skipped with one warning, whatever is wrong with it."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from napari_mrisr import zoo
from napari_mrisr.cli import main

from ..cli.test_faults import hostile_copy


def with_metadata(model, path, text: str):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path, metadata={"napari_mrisr": text})
    return path


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"selfsr": {"axis": 7, "lr_spacing": 4, "in_plane_spacing": 1}}, "selfsr.axis: Input should be less than or equal to 2"),
        ({"selfsr": {"axis": "x", "lr_spacing": 4, "in_plane_spacing": 1}}, "selfsr.axis: Input should be a whole number"),
        ({"metrics": {"validation": {"model": {"psnr_brain": "x"}}}}, "psnr_brain: Input should be a number, got 'x'"),
        ({"degradation": {"method": "kspace", "noise": "lots"}}, "degradation.noise: Input should be a number, got 'lots'"),
        ({"metrics": {"validation": ["a"]}}, "metrics.validation: Input should be a valid dictionary"),
        ({"training": ["a"]}, "training: Input should be a valid dictionary"),
        ({"input_geometry": {"spacing_mm": [1, 1], "through_plane_axis": 2}}, "input_geometry.spacing_mm"),
    ],
)
def test_fields_of_the_wrong_type_or_size_are_one_sentence(tmp_path, model, changes, sentence):
    path = hostile_copy(model, tmp_path / "m.safetensors", **changes)
    with pytest.raises(zoo.ModelError) as refused:
        zoo.load_model(path)
    assert sentence in str(refused.value) and "\n" not in str(refused.value)


def test_metadata_nested_a_hundred_thousand_levels_is_one_sentence(tmp_path, model):
    deep = '{"format_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = with_metadata(model, tmp_path / "m.safetensors", deep)
    with pytest.raises(zoo.ModelError, match="nested too deeply"):
        zoo.read_metadata(path)


def test_complex_weights_are_refused_in_our_words(tmp_path, model):
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    key = next(iter(tensors))
    tensors[key] = torch.complex(torch.full(tensors[key].shape, float("nan")), torch.zeros(tensors[key].shape))
    meta = zoo.read_metadata(zoo.save_model(model, tmp_path / "good.safetensors"))
    save_file(tensors, tmp_path / "m.safetensors", metadata={"napari_mrisr": json.dumps(meta)})
    with pytest.raises(zoo.ModelError, match="holds C64 numbers .* a model's weights are real"):
        zoo.load_model(tmp_path / "m.safetensors")


def test_every_kind_of_bad_file_in_the_model_folder_is_skipped_with_one_warning(user_dir, model, tmp_path, capsys):
    user_dir.mkdir(parents=True)
    zoo.save_model(model, user_dir / "good.safetensors")
    hostile_copy(model, user_dir / "typed.safetensors", metrics={"validation": {"model": {"psnr_brain": "x"}}})
    hostile_copy(model, user_dir / "huge.safetensors", config_features=10**9)
    with_metadata(model, user_dir / "deep.safetensors", "[" * 100_000 + "]" * 100_000)
    os.symlink("/dev/zero", user_dir / "zero.safetensors")
    os.mkfifo(user_dir / "fifo.safetensors")
    (user_dir / "folder.safetensors").mkdir()
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert "good" in out and "Traceback" not in err
    for name in ("typed", "huge", "deep", "zero", "fifo", "folder"):
        assert f"Skipping model file '{user_dir / name}.safetensors'" in err, name
    source = tmp_path / "scan.nii.gz"
    from napari_mrisr.volume.base import Volume
    from napari_mrisr.volume.io import save_volume

    from ..phantoms import head_phantom, oblique_affine

    save_volume(Volume(head_phantom((8, 8, 8)), oblique_affine((2.0, 1.0, 1.0))), source)
    assert main(["predict", str(source), str(tmp_path / "o.nii.gz"), "--model", "good", "--device", "cpu"]) == 0


def test_a_model_file_that_cannot_be_opened_is_skipped(user_dir, model, capsys, monkeypatch):
    user_dir.mkdir(parents=True)
    zoo.save_model(model, user_dir / "locked.safetensors")
    real_open = open

    def denied(path, *args, **kwargs):  # what a file without read permission gives a non-root user
        if str(path).endswith("locked.safetensors"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    assert main(["models"]) == 0
    assert "locked.safetensors' cannot be read (Permission denied)" in capsys.readouterr().err
