"""The Super-resolve dock's hint carries the chosen model's fit warning (no viewer, no Qt)."""

from __future__ import annotations

import numpy as np

from napari_mrisr._widgets.state.super_resolve import SuperResolveState
from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo.model_file import save_model

from ..phantoms import X2, tiny


def test_the_hint_says_a_scan_is_coarser_than_its_training_input(tmp_path, monkeypatch, user_dir):
    monkeypatch.setattr("napari_mrisr.zoo.folders.bundled_models_dir", lambda: tmp_path / "none")
    save_model(tiny(2, X2), user_dir / "iso-x2.safetensors", X2)
    state = SuperResolveState()
    state.refresh_models()
    state.set_input(Volume(np.zeros((8, 8, 8)), np.diag([4.0, 4.0, 5.0, 1.0]), "aniso"))
    assert state.method.name == "iso-x2"
    assert "'aniso' (4 x 4 x 5 mm) is coarser than the 2 x 2 x 2 mm scans 'iso-x2'" in state.hint
    state.set_input(Volume(np.zeros((8, 8, 8)), np.diag([2.0, 2.0, 2.0, 1.0]), "iso"))
    assert "coarser" not in state.hint
