"""Interpolation baselines on exactly the grid a super-resolution model produces.

Every SR model must beat these, voxel for voxel: :func:`upsample` puts its output on the
grid of :func:`napari_mrisr.volume.geometry.upsampled_affine`, the same grid the inference engine uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.ndimage

from napari_mrisr.volume.base import Volume

from .geometry import as_factors, covering_length, fractional_upsampled_affine

__all__ = ["INTERPOLATORS", "upsample"]

#: Baseline name -> spline order.
INTERPOLATORS = {"nearest": 0, "trilinear": 1, "cubic": 3}


def upsample(volume: Volume, factors: int | Sequence[float], order: int | str = 3) -> Volume:
    """Upsample a volume by per-axis factors with spline interpolation.

    Parameters
    ----------
    volume : Volume
        The low-resolution volume.
    factors : int or sequence of 3 numbers
        Per-axis upsampling factors: integers (a model's grid), or real ratios of at least 1
        (self-supervised SR's grid for slices at a fractional ratio,
        :class:`~napari_mrisr.selfsr.grid.SelfSRGrid`).
    order : int or {"nearest", "trilinear", "cubic"}
        0 (nearest neighbour), 1 (trilinear) or 3 (cubic B-spline).

    Returns
    -------
    Volume
        ``f * n`` voxels per axis (``floor(f * n)`` for a real ``f``: those within the field of
        view); SR voxel ``j`` sits at LR voxel coordinate ``(j - (f - 1)/2) / f``, so an HR ->
        LR -> upsample round trip lands on the HR grid.
    """
    f = _factors(factors)
    if isinstance(order, str):
        if order not in INTERPOLATORS:
            raise ValueError(f"Unknown interpolation {order!r}; choose one of {list(INTERPOLATORS)}.")
        order = INTERPOLATORS[order]
    if order not in INTERPOLATORS.values():
        raise ValueError(f"Interpolation order must be 0, 1 or 3, got {order}.")
    fa = np.asarray(f, dtype=np.float64)
    data = scipy.ndimage.affine_transform(
        volume.data,
        matrix=1 / fa,
        offset=-(fa - 1) / (2 * fa),
        output_shape=tuple(covering_length(n, k) for n, k in zip(volume.shape, f, strict=True)),
        order=order,
        mode="reflect",  # half-sample symmetric: an LR voxel extends half a voxel past its centre
        output=np.float32,
    )
    method = {v: k for k, v in INTERPOLATORS.items()}[order]
    affine = fractional_upsampled_affine(volume.affine, f)
    return Volume(data, affine, f"{volume.name} {method}", dict(volume.header))


def _factors(factors: int | Sequence[float]) -> tuple:
    """Integer factors as :func:`~napari_mrisr.volume.geometry.as_factors` takes them, or
    real ratios of at least 1 where one is not a whole number."""
    values = [factors] * 3 if np.isscalar(factors) else list(factors)
    real = (int, float, np.integer, np.floating)
    if len(values) == 3 and all(
        isinstance(v, real) and not isinstance(v, bool) and np.isfinite(v) and v >= 1
        for v in values
    ):
        if all(float(v).is_integer() for v in values):
            return as_factors(tuple(int(v) for v in values))  # 4.0 is the factor 4
        return tuple(float(v) for v in values)
    return as_factors(factors)
