"""Small synthetic volumes with non-trivial geometry, and tiny models: what the tests run on."""

from __future__ import annotations

import numpy as np
import torch

from napari_mrisr.models import build_model

#: Model-file metadata of a model trained x4 through-plane at 1 x 1 x 4 mm, and x2 isotropic at 2 mm.
X4 = {"scale": [1, 1, 4], "input_geometry": {"spacing_mm": [1, 1, 4], "through_plane_axis": 2}}
X2 = {"scale": [2, 2, 2], "input_geometry": {"spacing_mm": [2, 2, 2], "through_plane_axis": None}}



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


def tiny(scale, meta) -> torch.nn.Module:
    """A tiny edsr3d whose residual is zero: its output is linear interpolation of the input."""
    model = build_model("edsr3d", scale, features=4, num_blocks=1, input_skip=True)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    model.meta = meta
    return model.eval()
