"""Interpolation baselines on exactly the grid a super-resolution model produces.

Every SR model must beat these, voxel for voxel: :func:`upsample` puts its output on the
grid of :func:`napari_mrisr.volume.geometry.upsampled_affine`, the same grid the inference engine uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.ndimage

from napari_mrisr.volume.base import Volume

from .geometry import as_factors, upsampled_affine

__all__ = ["INTERPOLATORS", "upsample"]

#: Baseline name -> spline order.
INTERPOLATORS = {"nearest": 0, "trilinear": 1, "cubic": 3}


def upsample(volume: Volume, factors: int | Sequence[int], order: int | str = 3) -> Volume:
    """Upsample a volume by integer factors with spline interpolation.

    Parameters
    ----------
    volume : Volume
        The low-resolution volume.
    factors : int or sequence of 3 ints
        Per-axis integer upsampling factors.
    order : int or {"nearest", "trilinear", "cubic"}
        0 (nearest neighbour), 1 (trilinear) or 3 (cubic B-spline).

    Returns
    -------
    Volume
        ``f * n`` voxels per axis; SR voxel ``j`` sits at LR voxel coordinate
        ``(j - (f - 1)/2) / f``, so an HR -> LR -> upsample round trip lands on the HR grid.
    """
    f = as_factors(factors)
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
        output_shape=tuple(n * k for n, k in zip(volume.shape, f, strict=True)),
        order=order,
        mode="reflect",  # half-sample symmetric: an LR voxel extends half a voxel past its centre
        output=np.float32,
    )
    method = {v: k for k, v in INTERPOLATORS.items()}[order]
    return Volume(data, upsampled_affine(volume.affine, f), f"{volume.name} {method}", dict(volume.header))
