"""One ETA for a self-supervised SR run: training and applying the network, never tqdm's own."""

from __future__ import annotations

import itertools
import re
from types import SimpleNamespace

import numpy as np

from napari_mrisr.cli import main
from napari_mrisr.selfsr import run as selfsr_run
from napari_mrisr.selfsr import train as selfsr_train
from napari_mrisr.selfsr.grid import plan_grid
from napari_mrisr.selfsr.train import Budget, format_seconds
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import save_volume

from ..phantoms import head_phantom

SMALL = Budget(features=4, num_blocks=1, patch=16, batch=4, steps=50, lr=1e-3)


def thick_scan() -> Volume:
    return Volume(head_phantom((20, 20, 6)), np.diag([1.0, 1.0, 4.0, 1.0]), "thick")


def test_the_eta_while_training_counts_applying_the_network_too(monkeypatch):
    clock = itertools.count(0.0, 100.0)  # every reading of the training clock: 100 s later
    monkeypatch.setattr(selfsr_train, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    volume = thick_scan()
    after = selfsr_run.apply_steps(plan_grid(volume), volume.shape, SMALL)
    assert after > 0
    messages = [e.message for e in selfsr_run.iter_selfsr(volume, SMALL, "cpu") if e.message]
    at_25 = next(m for m in messages if m.startswith("training step 25/50"))
    # 100 s for 25 steps: 25 steps and applying (`after` steps' worth) still to come
    assert at_25.endswith(f"ETA {format_seconds(100 / 25 * (25 + after))}")


def test_mrisr_selfsr_shows_one_eta(tmp_path, capsys):
    source = tmp_path / "thick.nii.gz"
    save_volume(thick_scan(), source)
    args = ["selfsr", str(source), str(tmp_path / "sr.nii.gz"), "--device", "cpu", "--steps", "3"]
    assert main(args) == 0
    bar = capsys.readouterr().err
    assert "ETA" in bar  # ours, in the bar's postfix
    assert not re.search(r"\d\d:\d\d<", bar)  # tqdm's own remaining time ("[00:01<00:02")
