"""What a new user meets in the first hour of mrisr: the default model that fits the scan."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr.cli import main
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import save_volume
from napari_mrisr.zoo import model_choice
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import head_phantom

COMPACT = "compact: this CPU has no native bf16"


@pytest.fixture
def compact_cpu(monkeypatch):
    """A CPU without native bf16, whatever this machine is: the compact models are preferred."""
    monkeypatch.setattr(model_choice, "native_bf16", lambda device: False)


def save_scan(path, spacing, shape=(12, 12, 5)):
    save_volume(Volume(head_phantom(shape), np.diag([*spacing, 1.0]), path.name), path)
    return path


def test_predict_without_a_model_runs_the_bundled_model_that_fits_and_says_why(
    tmp_path, compact_cpu, capsys
):
    source = save_scan(tmp_path / "thick.nii.gz", (1.0, 1.0, 4.0))
    out = tmp_path / "sr.nii.gz"
    assert main(["predict", str(source), str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert (
        "using mni-x4-thick: the bundled model that fits 1 x 1 x 4 mm thick slices "
        f"({COMPACT})\n" in err
    )
    assert out.exists()


def test_predict_without_a_model_on_a_scan_no_bundled_model_fits_names_what_they_expect(
    tmp_path, compact_cpu, capsys
):
    source = save_scan(tmp_path / "fine.nii.gz", (1.0, 1.0, 1.0))
    assert main(["predict", str(source), str(tmp_path / "sr.nii.gz"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mrisr: error: No bundled model fits 'fine' (1 x 1 x 1 mm, isotropic): ")
    assert "they expect LR 2 x 2 x 2 mm or 1 x 1 x 4 mm thick slices;" in err
    assert "`mrisr selfsr`" in err and err.count("\n") == 1


def test_without_bundled_models_predict_asks_for_one_of_the_users(
    tmp_path, model, user_dir, monkeypatch, capsys
):
    monkeypatch.setattr("napari_mrisr.zoo.folders.bundled_models_dir", lambda: tmp_path / "none")
    source = save_scan(tmp_path / "thick.nii.gz", (1.0, 1.0, 4.0))
    out = str(tmp_path / "sr.nii.gz")
    assert main(["predict", str(source), out, "--device", "cpu"]) == 2
    assert "No trained model is installed; pass --model" in capsys.readouterr().err
    save_model(model, user_dir / "mine.safetensors")
    assert main(["predict", str(source), out, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "No bundled model is installed; pass --model with one of yours." in err


def test_a_cohort_without_a_model_chooses_once_by_its_first_file(tmp_path, compact_cpu, capsys):
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        save_scan(tmp_path / "in" / f"{name}.nii.gz", (1.0, 1.0, 4.0))
    code = main(["predict", str(tmp_path / "in"), str(tmp_path / "sr"), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0 and "2 done, 0 skipped, 0 failed" in out
    assert (
        "using mni-x4-thick for every file (chosen by a.nii.gz): the bundled model that fits "
        f"1 x 1 x 4 mm thick slices ({COMPACT})\n" in err
    )


@pytest.mark.parametrize("bf16", [False, True])
def test_mrisr_models_says_what_each_expects_and_marks_the_defaults(bf16, monkeypatch, capsys):
    monkeypatch.setattr(model_choice, "native_bf16", lambda device: bf16)
    monkeypatch.setattr("napari_mrisr.engine.devices.torch.cuda.is_available", lambda: False)
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) < 120 for line in lines if not line.startswith(("bundled", "user")))
    rows = {line[2:].split()[0]: line for line in lines if " bundled " in line}
    full = "-full" if bf16 else ""
    marked = {name for name, line in rows.items() if line.startswith("* ")}
    assert marked == {f"mni-x2-iso{full}", f"mni-x4-thick{full}"}
    assert "LR 2 x 2 x 2 mm" in rows["mni-x2-iso-full-gan"]
    assert "1 x 1 x 4 mm thick slices" in rows["mni-x4-thick"]
    rule = "full: this CPU computes bf16 natively" if bf16 else COMPACT
    assert (
        f"* mrisr predict's default on this machine for scans of that input ({rule}; never a GAN)"
        in lines
    )
