"""Self-supervised SR results keep a magnitude scan's support, as model results do."""

from __future__ import annotations

import numpy as np
import torch

from napari_mrisr.progress import run_to_end
from napari_mrisr.selfsr.apply import iter_apply
from napari_mrisr.selfsr.grid import plan_grid
from napari_mrisr.selfsr.train import BUDGETS, network
from napari_mrisr.volume.base import Volume

from ..phantoms import head_phantom


def undershooting(volume: Volume) -> torch.nn.Module:
    """An untrained per-scan network shifted down (normalised units): negatives at the
    dark background, as ringing makes them."""
    model = network(plan_grid(volume), BUDGETS["fast"])
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.net.tail.bias.fill_(-0.2)
    return model.eval()


def test_selfsr_results_of_a_magnitude_scan_have_no_negative_voxel(monkeypatch):
    volume = Volume(head_phantom((16, 16, 6)), np.diag([1.0, 1.0, 4.0, 1.0]), "thick")
    model = undershooting(volume)
    monkeypatch.setattr("napari_mrisr.selfsr.apply.clip_to_input", lambda result, source: result)
    assert run_to_end(iter_apply(volume, model, device="cpu")).sr.data.min() < -1  # before
    monkeypatch.undo()
    result = run_to_end(iter_apply(volume, model, device="cpu"))
    assert result.sr.data.min() == 0.0 and result.clipped_below == 0.0


def test_selfsr_results_of_a_scan_with_negative_voxels_are_left_unclipped():
    volume = Volume(head_phantom((16, 16, 6)) - 50, np.diag([1.0, 1.0, 4.0, 1.0]), "normalised")
    result = run_to_end(iter_apply(volume, undershooting(volume), device="cpu"))
    assert result.sr.data.min() < volume.data.min() and result.clipped_below is None
