"""SR results keep a magnitude scan's support: no negative voxel out of a scan without one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mrisr.cli import main
from napari_mrisr.predict.method import Method, iter_fitted, iter_run
from napari_mrisr.progress import run_to_end
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.clipping import clip_floor
from napari_mrisr.volume.io import load_volume, save_volume
from napari_mrisr.zoo.model_file import save_model
from napari_mrisr.zoo.model_fit import check_fit

from ..phantoms import X2, head_phantom, tiny


def undershooting(offset=-0.2) -> torch.nn.Module:
    """The tiny x2 model (linear interpolation) shifted down by ``offset`` (in the engine's
    normalised units): it makes negatives around the dark background, as ringing does."""
    model = tiny(2, X2)
    with torch.no_grad():
        model.tail.bias.fill_(offset)
    return model


def scan(shift=0.0, name="head") -> Volume:
    return Volume(head_phantom((10, 10, 10)) + shift, np.diag([2.0, 2.0, 2.0, 1.0]), name)


def test_a_magnitude_scans_result_has_no_negative_voxel_and_its_top_is_kept(monkeypatch):
    volume = scan()
    assert volume.data.min() >= 0 and clip_floor(volume) == 0.0
    model = undershooting()
    monkeypatch.setattr("napari_mrisr.predict.method.clip_to_input", lambda result, source: result)
    unclipped = run_to_end(iter_fitted(volume, model, check_fit(volume, X2), device="cpu"))
    assert unclipped.data.min() < -1  # what a model that rings gives, before the clip
    monkeypatch.undo()
    raw = tiny(2, X2)
    with torch.no_grad():
        raw.tail.bias.fill_(0.3)  # overshoot: a top above the input's maximum is kept
    sr = run_to_end(iter_fitted(volume, model, check_fit(volume, X2), device="cpu"))
    assert sr.data.min() == 0.0 and (sr.data == 0).sum() > 0  # there were negatives
    high = run_to_end(iter_fitted(volume, raw, check_fit(volume, X2), device="cpu"))
    assert high.data.max() > volume.data.max()


def test_a_scan_with_negative_voxels_is_left_unclipped():
    volume = scan(shift=-50.0, name="phase")  # e.g. normalised data
    assert clip_floor(volume) is None
    sr = run_to_end(iter_fitted(volume, undershooting(), check_fit(volume, X2), device="cpu"))
    assert sr.data.min() < volume.data.min()


def test_the_widgets_run_records_the_clipping_and_the_cli_writes_it(tmp_path, capsys):
    path = save_model(undershooting(), tmp_path / "under.safetensors", X2)
    result = run_to_end(iter_run(scan(), Method("under", path), device="cpu"))
    assert result.volume.data.min() == 0.0 and result.model_meta["clipped_below"] == 0.0
    negative = run_to_end(iter_run(scan(-50.0), Method("under", path), device="cpu"))
    assert "clipped_below" not in negative.model_meta
    source, out = tmp_path / "head.nii.gz", tmp_path / "sr.nii.gz"
    save_volume(scan(), source)
    assert main(["predict", str(source), str(out), "--model", str(path), "--device", "cpu"]) == 0
    assert load_volume(out).data.min() == 0.0
    (tmp_path / "in").mkdir()
    save_volume(scan(), tmp_path / "in" / "a.nii.gz")
    cohort = ["predict", str(tmp_path / "in"), str(tmp_path / "sr"), "--model", str(path)]
    assert main([*cohort, "--device", "cpu"]) == 0
    assert load_volume(tmp_path / "sr" / "a_sr.nii.gz").data.min() == 0.0


@pytest.mark.parametrize("shift", [0.0, -50.0])
def test_clip_floor_reads_the_input_only(shift):
    assert (clip_floor(scan(shift)) is None) == (shift < 0)
