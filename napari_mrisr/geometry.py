"""The grid rule shared by degradation, interpolation and super-resolution.

Degrading by an integer factor ``f`` along an axis, LR voxel ``i`` covers HR voxels
``f*i .. f*i + f - 1``, so its centre sits at HR voxel coordinate ``f*i + (f - 1)/2``.
Upsampling by ``f`` inverts this exactly, so HR -> LR -> SR lands on the HR grid
(cropped to ``f * (n // f)`` voxels per axis).
"""

from __future__ import annotations

from collections.abc import Sequence

import nibabel as nib
import numpy as np

__all__ = [
    "Factors",
    "as_factors",
    "crop_to_multiple",
    "downsampled_affine",
    "superior_axis",
    "upsampled_affine",
]

Factors = tuple[int, int, int]


def as_factors(factors: int | Sequence[int]) -> Factors:
    """Validate per-axis integer factors; a single integer means the same on every axis."""
    if isinstance(factors, (int, np.integer)):
        factors = (int(factors),) * 3
    values = tuple(factors)
    if len(values) != 3 or not all(float(f).is_integer() and f >= 1 for f in values):
        raise ValueError(f"Factors must be three integers >= 1, got {factors!r}.")
    return tuple(int(f) for f in values)  # type: ignore[return-value]


def crop_to_multiple(data: np.ndarray, factors: Factors) -> np.ndarray:
    """Crop each axis to a multiple of its factor, keeping voxel 0 (the affine is unchanged)."""
    if any(n < f for n, f in zip(data.shape, factors, strict=True)):
        raise ValueError(f"A volume of shape {data.shape} is too small for factors {factors}.")
    return data[tuple(slice(0, f * (n // f)) for n, f in zip(data.shape, factors, strict=True))]


def downsampled_affine(affine: np.ndarray, factors: Factors) -> np.ndarray:
    """Affine of the LR grid: LR voxel i is centred at HR voxel f*i + (f-1)/2."""
    f = np.asarray(factors, dtype=np.float64)
    lr_to_hr = np.eye(4)
    lr_to_hr[:3, :3] = np.diag(f)
    lr_to_hr[:3, 3] = (f - 1) / 2
    return affine @ lr_to_hr


def upsampled_affine(affine: np.ndarray, factors: Factors) -> np.ndarray:
    """Affine of the SR grid: the exact inverse of :func:`downsampled_affine`'s index map."""
    f = np.asarray(factors, dtype=np.float64)
    sr_to_lr = np.eye(4)
    sr_to_lr[:3, :3] = np.diag(1 / f)
    sr_to_lr[:3, 3] = -(f - 1) / (2 * f)
    return affine @ sr_to_lr


def superior_axis(affine: np.ndarray) -> int:
    """The data axis closest to the inferior-superior direction (slice axis of axial scans)."""
    codes = nib.aff2axcodes(affine)
    return next(i for i, c in enumerate(codes) if c in ("S", "I"))
