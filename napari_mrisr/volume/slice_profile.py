"""Slice profiles of 2D multi-slice acquisitions: slices of any spacing, thickness and shape.

A real slice ratio is allowed (spacing need not be a multiple of the HR spacing); slice ``i``
is centred at HR voxel ``ratio*i + (ratio-1)/2``, the grid rule of
:mod:`napari_mrisr.volume.geometry` with a real ratio. Self-supervised SR models the scan it
super-resolves with these profiles.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import scipy.special

from .base import Volume
from .degrade import apply_along_axis, symmetric_index
from .geometry import fractional_downsampled_affine, superior_axis

__all__ = ["SliceProfile", "profile_matrix", "simulate_slices"]


class SliceProfile(StrEnum):
    """Slice profiles of :func:`profile_matrix` (each member equals its plain string)."""

    RECT = "rect"
    GAUSSIAN = "gaussian"


def profile_matrix(
    n: int,
    ratio: float,
    thickness: float | None = None,
    profile: str = SliceProfile.RECT,
    n_out: int | None = None,
) -> np.ndarray:
    """The slice-profile forward model along one axis as an ``(n_out, n)`` matrix.

    Slice ``i`` is centred at HR voxel ``ratio*i + (ratio-1)/2`` (the grid rule with a real
    ratio) and measures the HR signal, taken as constant over each HR voxel, weighted by the
    slice profile: a box of width ``thickness`` (``rect``) or a Gaussian of FWHM
    ``thickness``, each weight being the profile's integral over the HR voxel. Weights sum to 1;
    borders are half-sample symmetric. ``thickness < ratio`` models a slice gap. A ``rect``
    profile of ``thickness = ratio = f`` is exactly ``simulate_lr``'s ``thick_slice``.

    Parameters
    ----------
    n : int
        HR voxels along the axis.
    ratio : float
        Slice spacing in HR voxels (> 0, fractional allowed).
    thickness : float, optional
        Slice thickness (rect width or Gaussian FWHM) in HR voxels; default ``ratio``.
    profile : {"rect", "gaussian"} or SliceProfile
    n_out : int, optional
        Slices to make; default ``floor(n / ratio)`` (those inside the HR field of view).

    Returns
    -------
    numpy.ndarray
        float64 weights; ``lr = W @ hr`` along the axis.
    """
    try:
        kind = SliceProfile(profile)
    except ValueError:
        raise ValueError(
            f"Unknown slice profile {profile!r}; choose one of {', '.join(SliceProfile)}."
        ) from None
    thickness = float(ratio if thickness is None else thickness)
    if not ratio > 0 or not thickness > 0:
        raise ValueError(f"Slice spacing and thickness must be > 0, got {ratio} and {thickness}.")
    if n_out is None:
        n_out = int(np.floor(n / ratio + 1e-6))
    if n_out < 1:
        raise ValueError(f"{n} voxels are fewer than one slice of spacing {ratio:g} voxels.")
    centres = ratio * np.arange(n_out) + (ratio - 1) / 2
    reach = thickness / 2 if kind is SliceProfile.RECT else 2 * thickness  # 4.7 sigma
    pad = int(np.ceil(reach)) + 1
    edges = np.arange(-pad, n + pad + 1) - 0.5  # HR voxel j spans [j - 0.5, j + 0.5]
    rel = edges[None, :] - centres[:, None]
    if kind is SliceProfile.RECT:
        cdf = np.clip(rel / thickness + 0.5, 0.0, 1.0)
    else:
        sigma = thickness / (2 * np.sqrt(2 * np.log(2)))
        cdf = 0.5 * (1 + scipy.special.erf(rel / (sigma * np.sqrt(2))))
    weights = np.diff(cdf, axis=1)  # (n_out, n + 2 pad): integral over each (padded) voxel
    matrix = np.zeros((n, n_out))
    np.add.at(matrix, symmetric_index(n, pad), weights.T)
    return (matrix / matrix.sum(axis=0, keepdims=True)).T


def simulate_slices(
    volume: Volume,
    spacing: float,
    thickness: float | None = None,
    profile: str = SliceProfile.RECT,
    axis: int | None = None,
) -> Volume:
    """Simulate a 2D multi-slice acquisition: slices of a given spacing, thickness and profile.

    Parameters
    ----------
    volume : Volume
        The high-resolution volume.
    spacing : float
        Slice spacing in mm (centre to centre); need not be a multiple of the HR spacing.
    thickness : float, optional
        Slice thickness in mm (rect width or Gaussian FWHM); default ``spacing``. Thinner
        than ``spacing`` leaves a gap between slices.
    profile : {"rect", "gaussian"} or SliceProfile
    axis : int, optional
        The slice axis; default the data axis closest to inferior-superior (axial slices).

    Returns
    -------
    Volume
        ``floor(n / r)`` slices (``r`` = spacing / HR spacing) on the grid rule with a real
        ratio: slice ``i`` centred at HR voxel ``r*i + (r-1)/2``.
    """
    axis = superior_axis(volume.affine) if axis is None else int(axis)
    hr_spacing = float(volume.spacing[axis])
    ratio = float(spacing) / hr_spacing
    thick = None if thickness is None else float(thickness) / hr_spacing
    matrix = profile_matrix(volume.shape[axis], ratio, thick, profile)
    ratios = [1.0, 1.0, 1.0]
    ratios[axis] = ratio
    label = f"{spacing:g} mm" + ("" if thickness is None else f" / {thickness:g} mm thick")
    return Volume(
        data=np.ascontiguousarray(apply_along_axis(volume.data, matrix, axis), dtype=np.float32),
        affine=fractional_downsampled_affine(volume.affine, ratios),
        name=f"{volume.name} LR {SliceProfile(profile)} slices {label}",
    )
