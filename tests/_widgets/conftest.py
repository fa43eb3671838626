"""The dock widgets' fixtures: a viewer, model folders the tests decide, error notifications."""

from __future__ import annotations

import pytest
from napari.utils.notifications import notification_manager

from napari_mrisr.models import build_model
from napari_mrisr.zoo.model_file import save_model


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def bundled_dir(tmp_path, monkeypatch):
    """An empty stand-in for the bundled model folder, so each test decides which models exist."""
    folder = tmp_path / "bundled"
    folder.mkdir()
    monkeypatch.setattr("napari_mrisr.zoo.folders.bundled_models_dir", lambda: folder)
    return folder


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A user model folder holding one tiny x2 model (random weights: geometry, not quality)."""
    folder = tmp_path / "models"
    save_model(build_model("srgan3d", 2, features=4, num_blocks=1), folder / "tiny-x2.safetensors")
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(folder))
    return folder


@pytest.fixture
def errors():
    """Error notifications shown from now on (their one-sentence messages)."""
    start = len(notification_manager.records)

    def messages() -> list[str]:
        return [
            n.message
            for n in notification_manager.records[start:]
            if str(n.severity).lower().endswith("error")
        ]

    return messages
