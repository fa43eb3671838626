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
    "DIRECTIONS",
    "MIN_ANISOTROPY",
    "Factors",
    "as_factors",
    "axis_direction",
    "axis_directions",
    "crop_to_multiple",
    "covering_length",
    "downsampled_affine",
    "fractional_downsampled_affine",
    "fractional_upsampled_affine",
    "per_axis",
    "superior_axis",
    "upsampled_affine",
]

Factors = tuple[int, int, int]


_COUNTS = {2: "two", 3: "three"}


def per_axis(
    value: int | Sequence[int], name: str, minimum: int = 1, axes: int = 3
) -> tuple[int, ...]:
    """One integer per spatial axis; a single integer means the same on every axis.

    Parameters
    ----------
    value : int or sequence of int
        An integer, or ``axes`` of them (bools and floats are refused).
    name : str
        What ``value`` is, as the error message should name it (e.g. ``"Factors"``).
    minimum : int
        The smallest value allowed on an axis.
    axes : int
        The number of spatial axes (3, or 2 for slice-wise models).

    Returns
    -------
    tuple of int
        ``axes`` plain Python integers.

    Raises
    ------
    ValueError
        A sentence naming ``name`` when ``value`` is not such an integer or sequence.
    """
    values = (value,) * axes if _is_int(value) else value
    try:
        values = tuple(values)  # type: ignore[arg-type]
    except TypeError:
        values = ()
    if len(values) != axes or not all(_is_int(v) and v >= minimum for v in values):
        raise ValueError(
            f"{name} must be {_COUNTS.get(axes, axes)} integers >= {minimum} (one per axis) "
            f"or one integer for all axes, got {value!r}."
        )
    return tuple(int(v) for v in values)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def as_factors(factors: int | Sequence[int]) -> Factors:
    """Validate per-axis integer factors; a single integer means the same on every axis."""
    return per_axis(factors, "Factors")  # type: ignore[return-value]


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


def fractional_downsampled_affine(affine: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """:func:`downsampled_affine` for real ratios: LR voxel i centred at HR voxel r*i + (r-1)/2."""
    r = np.asarray(ratios, dtype=np.float64)
    lr_to_hr = np.eye(4)
    lr_to_hr[:3, :3] = np.diag(r)
    lr_to_hr[:3, 3] = (r - 1) / 2
    return affine @ lr_to_hr


def fractional_upsampled_affine(affine: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """:func:`upsampled_affine` for real ratios (equal to it for integer ones)."""
    r = np.asarray(ratios, dtype=np.float64)
    sr_to_lr = np.eye(4)
    sr_to_lr[:3, :3] = np.diag(1 / r)
    sr_to_lr[:3, 3] = -(r - 1) / (2 * r)
    return affine @ sr_to_lr


def covering_length(n: int, ratio: float) -> int:
    """Voxels of spacing ``1/ratio`` (in units of the ``n`` voxels) within the same field of view.

    ``n`` voxels span ``n`` units, so ``floor(ratio * n)`` finer voxels fit (``ratio * n``
    exactly for an integer ratio); a tolerance keeps rounding error from dropping one.
    """
    return max(1, int(np.floor(ratio * n + 1e-6)))


#: A scan is anisotropic when its coarsest spacing exceeds its finest by this factor: then its
#: thick axis is worth super-resolving (self-supervised SR) and a model's fit names it.
MIN_ANISOTROPY = 1.2


def superior_axis(affine: np.ndarray) -> int:
    """The data axis closest to the inferior-superior direction (slice axis of axial scans)."""
    codes = nib.aff2axcodes(affine)
    return next(i for i, c in enumerate(codes) if c in ("S", "I"))


#: How a voxel axis runs in the patient, by its nearest RAS direction code: a radiologist thinks
#: in L-R / A-P / S-I (an axis running S-I with factor 4 is a thick-slice axial acquisition).
DIRECTIONS = {"R": "L-R", "L": "L-R", "A": "A-P", "P": "A-P", "S": "S-I", "I": "S-I"}


def axis_direction(affine: np.ndarray, axis: int) -> str:
    """The anatomical direction a data axis runs along: ``"L-R"``, ``"A-P"`` or ``"S-I"``."""
    return DIRECTIONS[nib.aff2axcodes(affine)[axis]]


def axis_directions(affine: np.ndarray) -> tuple[str, str, str]:
    """``"L-R"``, ``"A-P"`` or ``"S-I"`` for each voxel axis of a volume with this affine."""
    return tuple(axis_direction(affine, axis) for axis in range(3))
