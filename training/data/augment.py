"""Augmentation of the HR before degradation (``data.augment``), both pipelines.

Pose: :func:`rotated_copies` adds copies of each training volume turned by small random
rotations, made once before any patch is cut, so both pipelines cut from them (resampling
per patch would blur every HR patch a little; once, with cubic B-splines, it blurs less and
leaves unrotated patches as they are).

Intensity, per patch: contrast first (gamma, then inversion: tissue properties), then a smooth
multiplicative bias field (the receive coil), all before the forward model so the LR patch is
the acquisition of the augmented HR patch. Parameters are drawn on the CPU with numpy
(:func:`draw_augmentation`); :func:`augment` applies them to a torch batch on any device; the
CPU workers pass a batch of one. With the default config nothing is drawn and nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from napari_mrisr.transfer import upload
from napari_mrisr.volume.base import Volume

from ..config import AugmentConfig

__all__ = ["Augmentation", "augment", "augment_numpy", "bias_field", "draw_augmentation", "per_patch", "rotated_copies"]


def rotated_copies(volumes: Sequence[Volume], config: AugmentConfig, seed: int = 0) -> list[Volume]:
    """``config.rotated_copies`` copies of each volume, each turned about its centre by its own
    rotation (a random axis, an angle up to ``config.rotation`` degrees, rigid in millimetres),
    on the same voxel grid; none when ``rotation`` is 0.

    The head turns inside the field of view: voxels whose source lies outside the volume take
    its lowest value (background), and intensities stay within its range (cubic B-splines
    overshoot).
    """
    if not config.rotation:
        return []
    rng = np.random.default_rng([seed, 0x0520])  # its own stream: other draws stay as they were
    copies = []
    for volume in volumes:
        spacing = volume.spacing
        centre = (np.asarray(volume.shape) - 1) / 2
        low, high = float(volume.data.min()), float(volume.data.max())
        for k in range(config.rotated_copies):
            axis = rng.normal(size=3)
            angle = np.deg2rad(rng.uniform(-config.rotation, config.rotation))
            turn = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()
            matrix = turn / spacing[:, None] * spacing[None, :]  # the rotation in voxel units
            data = scipy.ndimage.affine_transform(
                volume.data, matrix, offset=centre - matrix @ centre, order=3, mode="constant",
                cval=low, output=np.float32,
            )  # fmt: skip
            np.clip(data, low, high, out=data)
            copies.append(Volume(data, volume.affine, f"{volume.name} rotated {k + 1}"))
    return copies


@dataclass(frozen=True)
class Augmentation:
    """One patch's drawn augmentation."""

    bias: np.ndarray | None  # (k, k, k) log-field values at the coarse grid nodes
    gamma: float  # 1: unchanged
    invert: bool


def draw_augmentation(rng: np.random.Generator, config: AugmentConfig) -> Augmentation | None:
    """Draw one patch's augmentation, or None (drawing nothing) when all are off."""
    if not config.active:
        return None
    k = config.bias_grid
    bias = rng.normal(0.0, config.bias_field, (k, k, k)) if config.bias_field > 0 else None
    gamma = float(np.exp(rng.uniform(-config.gamma, config.gamma))) if config.gamma > 0 else 1.0
    invert = bool(rng.random() < config.invert) if config.invert > 0 else False
    return Augmentation(bias, gamma, invert)


def bias_field(nodes: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Smooth fields ``(B, *shape)`` of mean 1: ``exp`` of the ``(B, k, k, k)`` node values,
    trilinearly interpolated over the region (nodes on its corners)."""
    log_field = F.interpolate(nodes[:, None], size=tuple(shape), mode="trilinear", align_corners=True)[:, 0]
    field = log_field.exp()
    return field / field.mean(dim=(1, 2, 3), keepdim=True)


def augment(x: torch.Tensor, draws: Sequence[Augmentation | None]) -> torch.Tensor:
    """Apply per-patch augmentations to ``x`` ``(B, X, Y, Z)`` (None: that patch unchanged).

    Gamma acts on magnitudes (``sign(x) |x|**g``), so [0, 1] stays [0, 1]; inversion maps the
    patch's range [lo, hi] onto itself (``lo + hi - x``); the bias field has mean 1.
    """
    if all(d is None for d in draws):
        return x
    draws = [d if d is not None else Augmentation(None, 1.0, False) for d in draws]
    if any(d.gamma != 1.0 for d in draws):
        gamma = per_patch(x, [d.gamma for d in draws])
        x = x.sign() * x.abs().pow(gamma)
    if any(d.invert for d in draws):
        flat = x.flatten(1)
        lo, hi = flat.amin(1).view(-1, 1, 1, 1), flat.amax(1).view(-1, 1, 1, 1)
        invert = upload([d.invert for d in draws], x.device).view(-1, 1, 1, 1)
        x = torch.where(invert, lo + hi - x, x)
    if any(d.bias is not None for d in draws):
        k = next(d.bias for d in draws if d.bias is not None).shape
        nodes = np.stack([d.bias if d.bias is not None else np.zeros(k) for d in draws])
        x = x * bias_field(upload(nodes, x.device, x.dtype), x.shape[1:])
    return x


def augment_numpy(region: np.ndarray, draw: Augmentation | None) -> np.ndarray:
    """:func:`augment` of one numpy region (the CPU workers' path), float32."""
    if draw is None:
        return region
    return augment(torch.from_numpy(np.ascontiguousarray(region, dtype=np.float32))[None], [draw])[0].numpy()


def per_patch(x: torch.Tensor, values: list[float]) -> torch.Tensor:
    """One value per patch of the batch ``x``, shaped to broadcast over it, on its device."""
    return upload(values, x.device, x.dtype).view(-1, 1, 1, 1)
