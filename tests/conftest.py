"""Shared fixtures: small synthetic volumes with non-trivial geometry, written by nibabel."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr.volume.io import Volume

# pytest-qt picks its own binding (PySide6, PyQt6, PyQt5: the first installed) and qtpy, hence
# napari, follows the one already imported: QT_API alone would be ignored with several installed.
if os.environ.get("QT_API"):
    os.environ.setdefault("PYTEST_QT_API", os.environ["QT_API"])


def oblique_affine(spacing=(0.9, 1.1, 1.3), angle=0.2, origin=(-20.0, 15.5, 7.25)) -> np.ndarray:
    """A voxel-to-RAS affine with anisotropic spacing, a rotation and an offset."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def head_phantom(shape=(24, 28, 20), seed=0) -> np.ndarray:
    """A smooth ellipsoidal 'head' with inner structure and a dark background."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    r = np.sqrt(((grid / np.array([0.8, 0.75, 0.7])[:, None, None, None]) ** 2).sum(0))
    head = 100 / (1 + np.exp((r - 0.85) * 25))
    blobs = 40 * np.exp(-((grid[0] - 0.2) ** 2 + grid[1] ** 2 + (grid[2] + 0.1) ** 2) / 0.05)
    texture = np.random.default_rng(seed).normal(0, 1, shape)
    return (head + blobs + 3 * texture * (head > 50)).astype(np.float32)


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
