"""The Super-resolve dock picks the model mrisr predict picks: one rule, no second copy."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr._widgets.state.super_resolve import SuperResolveState
from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo import model_choice


@pytest.mark.parametrize("bf16", [False, True])
def test_the_dock_and_the_command_line_choose_the_same_bundled_model(bf16, monkeypatch, user_dir):
    monkeypatch.setattr(model_choice, "native_bf16", lambda device: bf16)
    state = SuperResolveState(device="cpu")
    state.refresh_models()
    for spacing in ((1, 1, 4), (2, 2, 2), (0.9, 0.9, 5)):  # each new scan: the fitting default
        volume = Volume(np.zeros((8, 8, 8)), np.diag([*spacing, 1.0]), "scan")
        state.set_input(volume)
        assert state.method.name == model_choice.choose_bundled(volume, "cpu").info.name
