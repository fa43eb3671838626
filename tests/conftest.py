"""Shared fixtures: phantom volumes on disk, tiny models, and folders that are never the user's."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr.volume.base import Volume

from .pacs_server import running_orthanc
from .phantoms import head_phantom, oblique_affine

# pytest-qt picks its own binding (PySide6, PyQt6, PyQt5: the first installed) and qtpy, hence
# napari, follows the one already imported: QT_API alone would be ignored with several installed.
if os.environ.get("QT_API"):
    os.environ.setdefault("PYTEST_QT_API", os.environ["QT_API"])


#: Fixtures that drive napari's viewer or Qt: a test that uses one is a GUI test.
GUI_FIXTURES = {"make_napari_viewer", "make_napari_viewer_proxy", "qtbot"}


def pytest_collection_modifyitems(items) -> None:
    """Mark every test that drives Qt ``gui``, so CI's second Qt binding runs exactly those
    (``-m gui``) and a new GUI test is never left out."""
    for item in items:
        if GUI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def user_config(tmp_path_factory, monkeypatch):
    """Settings (e.g. the display convention) go to a fresh folder, never the user's own."""
    monkeypatch.setenv("NAPARI_MRISR_CONFIG", str(tmp_path_factory.mktemp("config") / "settings.json"))


@pytest.fixture
def volume() -> Volume:
    return Volume(head_phantom(), oblique_affine(), name="phantom")


@pytest.fixture
def write_nifti(tmp_path):
    """Write an array with nibabel and return the path (the way a scanner export would)."""

    def write(data, affine=None, name="scan.nii.gz", dtype=None):
        img = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.eye(4) if affine is None else affine)
        path = tmp_path / name
        nib.save(img, path)
        return path

    return write


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Three small phantom 'subjects' on disk (volume split: 2 train, 1 validation)."""
    folder = tmp_path_factory.mktemp("scans")
    for i in range(3):
        nib.save(nib.Nifti1Image(head_phantom((32, 36, 32), seed=i), oblique_affine()), folder / f"sub{i}.nii.gz")
    return folder


@pytest.fixture
def model():
    """A tiny edsr3d x(1, 2, 2) with fixed random weights (geometry and files, not quality)."""
    import torch

    from napari_mrisr.models import build_model

    torch.manual_seed(0)
    return build_model("edsr3d", (1, 2, 2), features=8, num_blocks=1).eval()


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """The user model folder, empty, in a temporary place."""
    folder = tmp_path / "models"
    monkeypatch.setenv("NAPARI_MRISR_MODELS", str(folder))
    return folder


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A running Orthanc (its PacsServer, with the session's password) and its folder
    (:func:`tests.pacs_server.running_orthanc`); tests that need it skip where Orthanc is not
    installed (CI installs it)."""
    folder = tmp_path_factory.mktemp("orthanc")
    with running_orthanc(folder) as server:
        if server is None:
            pytest.skip("Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)")
        yield server, folder
