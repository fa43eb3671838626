"""Model files (safetensors + metadata, never pickles) and the `mrisr predict` command."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_mrisr import zoo
from napari_mrisr.cli import main
from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.volume.clipping import clip_to_input
from napari_mrisr.volume.io import load_volume, save_volume


def test_model_file_round_trip(tmp_path, model, volume):
    meta = {"degradation": {"method": "kspace", "factors": [1, 2, 2]}, "metrics": {"psnr": 30.0}}
    path = zoo.save_model(model, tmp_path / "m.safetensors", meta)
    loaded = zoo.load_model(path)
    assert loaded.meta["architecture"] == "edsr3d"
    assert loaded.meta["degradation"] == meta["degradation"]
    assert loaded.meta["scale"] == [1, 2, 2]
    assert tuple(loaded.scale) == (1, 2, 2)
    np.testing.assert_array_equal(
        super_resolve(volume, loaded, device="cpu").data, super_resolve(volume, model, device="cpu").data
    )


def test_list_models_finds_user_models_by_name(user_dir, model):
    zoo.save_model(model, user_dir / "knee-x2.safetensors")
    (user_dir / "broken.safetensors").write_bytes(b"junk")
    names = {info.name: info for info in zoo.list_models()}
    assert "knee-x2" in names and not names["knee-x2"].bundled
    assert "broken" not in names
    assert zoo.load_model("knee-x2").meta["architecture"] == "edsr3d"
    with pytest.raises(zoo.ModelError, match="No model named 'nope'"):
        zoo.load_model("nope")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_pickles_are_refused_without_being_unpickled(tmp_path, model, monkeypatch, suffix):
    path = tmp_path / f"checkpoint{suffix}"
    torch.save(model.state_dict(), path)  # a zip archive of pickles, whatever its name says
    raw = tmp_path / f"raw{suffix}"
    raw.write_bytes(pickle.dumps({"weights": 1}))

    def forbidden(*args, **kwargs):
        raise AssertionError("a user's file was unpickled")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    for bad in (path, raw):
        with pytest.raises(zoo.ModelError, match="never unpickles"):
            zoo.load_model(bad)


def test_a_model_file_whose_header_starts_like_a_pickle_still_loads(tmp_path, model):
    # The first byte of a safetensors file is the low byte of its header length; 0x80 is also
    # the first byte of a pickle. Pad the metadata until the header length hits it.
    path = tmp_path / "m.safetensors"
    for n in range(256):
        zoo.save_model(model, path, {"note": "x" * n})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length with low byte 0x80")
    assert zoo.load_model(path).meta["note"] == "x" * n


def test_files_that_do_not_match_their_architecture_are_refused(tmp_path, model):
    path = zoo.save_model(model, tmp_path / "m.safetensors")
    meta = zoo.read_metadata(path)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}

    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, wrong, metadata={"napari_mrisr": json.dumps({**meta, "config": {**meta["config"], "features": 16}})})
    with pytest.raises(zoo.ModelError, match="does not match its declared architecture 'edsr3d'"):
        zoo.load_model(wrong)

    missing = tmp_path / "missing.safetensors"
    save_file(dict(list(tensors.items())[1:]), missing, metadata={"napari_mrisr": json.dumps(meta)})
    with pytest.raises(zoo.ModelError, match="1 tensor missing"):
        zoo.load_model(missing)

    unknown = tmp_path / "unknown.safetensors"
    save_file(tensors, unknown, metadata={"napari_mrisr": json.dumps({**meta, "architecture": "unet9000"})})
    with pytest.raises(zoo.ModelError, match="cannot build"):
        zoo.load_model(unknown)

    bare = tmp_path / "bare.safetensors"
    save_file(tensors, bare)
    with pytest.raises(zoo.ModelError, match="no napari-mrisr metadata"):
        zoo.load_model(bare)

    future = tmp_path / "future.safetensors"
    save_file(tensors, future, metadata={"napari_mrisr": json.dumps({**meta, "format_version": 99})})
    with pytest.raises(zoo.ModelError, match="newer napari-mrisr"):
        zoo.load_model(future)


def test_predict_writes_the_sr_volume(tmp_path, model, volume, capsys):
    save_volume(volume, tmp_path / "in.nii.gz")
    zoo.save_model(model, tmp_path / "m.safetensors")
    assert main(["predict", str(tmp_path / "in.nii.gz"), str(tmp_path / "out.nii.gz"),
                 "--model", str(tmp_path / "m.safetensors"), "--device", "cpu", "--tile", "8"]) == 0
    out = load_volume(tmp_path / "out.nii.gz")
    assert out.shape == (volume.shape[0], 2 * volume.shape[1], 2 * volume.shape[2])
    source = load_volume(tmp_path / "in.nii.gz")  # no negative voxel: the result's are set to 0
    expected = clip_to_input(super_resolve(source, model, device="cpu"), source)
    np.testing.assert_allclose(out.affine, expected.affine, atol=1e-5)
    np.testing.assert_allclose(out.data, expected.data, atol=1e-4 * float(np.ptp(expected.data)))
    assert "wrote" in capsys.readouterr().out


def test_predict_refuses_bad_input_with_exit_code_2(tmp_path, model, volume, capsys, user_dir, monkeypatch):
    monkeypatch.setattr(zoo.folders, "bundled_models_dir", lambda: tmp_path / "no-bundled-models")
    source = tmp_path / "in.nii.gz"
    save_volume(volume, source)
    original = source.read_bytes()
    weights = zoo.save_model(model, tmp_path / "m.safetensors")
    torch.save(model.state_dict(), tmp_path / "m.pt")
    (tmp_path / "broken.nii.gz").write_bytes(b"nope")
    cases = [
        ([str(source), str(source), "--model", str(weights)], "is the input file; pass --force"),
        ([str(tmp_path / "missing.nii"), str(tmp_path / "o.nii"), "--model", str(weights)], "does not exist"),
        ([str(tmp_path / "broken.nii.gz"), str(tmp_path / "o.nii"), "--model", str(weights)], "not a readable"),
        ([str(source), str(tmp_path / "o.nii"), "--model", str(tmp_path / "m.pt")], "never unpickles"),
        ([str(source), str(tmp_path / "o.nii")], "No trained model is installed"),
        ([str(source), str(tmp_path / "o.png"), "--model", str(weights)], "ending in"),
    ]
    for args, message in cases:
        assert main(["predict", *args, "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0 and err.startswith("mrisr: error:")
    assert source.read_bytes() == original
    assert not (tmp_path / "o.nii").exists() and not (tmp_path / "o.png").exists()


def test_a_skipped_user_model_file_is_one_warning_line(tmp_path, user_dir, capsys):
    user_dir.mkdir()
    (user_dir / "broken.safetensors").write_bytes(b"garbage")
    assert main(["models"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrisr: warning: Skipping model file") and "broken.safetensors" in err
    assert err.count("\n") == 0  # no source line under it


def test_a_model_path_that_does_not_exist_is_called_a_missing_file(tmp_path):
    for ref in (tmp_path / "typo.safetensors", "models/typo"):
        with pytest.raises(zoo.ModelError, match="^No model file at"):
            zoo.load_model(ref)
    with pytest.raises(zoo.ModelError, match="^No model named 'typo'"):
        zoo.load_model("typo")


@pytest.mark.subprocess
def test_python_dash_m_runs_the_cli(tmp_path, model, volume):
    save_volume(volume, tmp_path / "in.nii")
    zoo.save_model(model, tmp_path / "m.safetensors")
    done = subprocess.run(
        [sys.executable, "-m", "napari_mrisr", "predict", str(tmp_path / "in.nii"), str(tmp_path / "out.nii"),
         "--model", str(tmp_path / "m.safetensors"), "--device", "cpu"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.nii").is_file()
