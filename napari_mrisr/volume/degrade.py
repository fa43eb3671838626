"""Simulated low-resolution acquisitions: the one forward model the GUI, CLI and training use.

Every method keeps the geometry of :mod:`napari_mrisr.volume.geometry` (LR voxel ``i`` is centred at
HR voxel ``f*i + (f-1)/2``) and preserves the mean intensity of the (cropped) HR volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import scipy.fft
import scipy.special

from napari_mrisr.volume.base import Volume

from .geometry import (
    as_factors,
    crop_to_multiple,
    downsampled_affine,
)

__all__ = [
    "DegradationMethod",
    "apply_along_axis",
    "axis_operator",
    "rician",
    "simulate_lr",
]

# The pieces below (method lookup, k-space band, filter taps, mirrored borders, slice-profile
# matrix) are shared with :mod:`napari_mrisr.volume.degrade_torch`, so both apply the same numbers.


class DegradationMethod(StrEnum):
    """The forward models of :func:`simulate_lr` (each member equals its plain string)."""

    KSPACE = "kspace"
    GAUSSIAN = "gaussian"
    THICK_SLICE = "thick_slice"


def simulate_lr(
    volume: Volume,
    factors: int | Sequence[int] = (2, 2, 2),
    method: str = DegradationMethod.KSPACE,
    noise: float = 0.0,
    seed: int | None = None,
) -> Volume:
    """Simulate a low-resolution acquisition of an HR volume.

    Parameters
    ----------
    volume : Volume
        The high-resolution volume.
    factors : int or sequence of 3 ints
        Per-axis integer downsampling factors, e.g. ``(2, 2, 2)`` or ``(1, 1, 4)``.
    method : {"kspace", "gaussian", "thick_slice"} or DegradationMethod
        ``kspace`` keeps the central k-space (what a lower-resolution acquisition measures;
        the DC term, hence the mean, is kept). ``gaussian`` blurs with a Gaussian whose FWHM
        is ``f`` HR voxels, then decimates. ``thick_slice`` averages ``f`` neighbouring
        voxels (a box slice profile) along each axis whose factor is above 1.
    noise : float
        Standard deviation of Rician noise as a fraction of the HR maximum intensity.
    seed : int, optional
        Seed for the noise.

    Returns
    -------
    Volume
        The LR volume with its exact affine.
    """
    f = as_factors(factors)
    kind = degradation_method(method)
    if noise < 0:
        raise ValueError(f"Noise must be >= 0, got {noise}.")
    hr = crop_to_multiple(volume.data, f)
    lr = hr
    for axis, fa in enumerate(f):
        if fa > 1:
            lr = _DEGRADERS[kind](lr, axis, fa)
    if noise > 0:
        lr = _rician(lr, noise * float(np.abs(hr).max()), np.random.default_rng(seed))
    label = "x".join(str(v) for v in f) if len(set(f)) > 1 else str(f[0])
    return Volume(
        data=np.ascontiguousarray(lr, dtype=np.float32),
        affine=downsampled_affine(volume.affine, f),
        name=f"{volume.name} LR {kind} x{label}",
    )


def degradation_method(method: str) -> DegradationMethod:
    """The :class:`DegradationMethod` named ``method``, or a one-sentence ``ValueError``."""
    # The enum itself rather than monai's look_up_option: importing monai takes seconds (it
    # imports torch), which the sample data and the LR simulation otherwise never need.
    try:
        return DegradationMethod(method)
    except ValueError:
        raise ValueError(
            f"Unknown degradation method {method!r}; choose one of {', '.join(DegradationMethod)}."
        ) from None


def kspace_band(n: int, f: int) -> tuple[np.ndarray, np.ndarray]:
    """The central ``n // f`` frequencies of an ``n``-point FFT and their centring phase ramp.

    The ramp shifts by ``(f-1)/2`` HR voxels, so LR samples fall on the LR voxel centres
    rather than on ``f*i``.
    """
    m = n // f
    kept = scipy.fft.fftfreq(m, d=1 / m).astype(int) % n
    freq = scipy.fft.fftfreq(n, d=1 / n)[kept]
    return kept, np.exp(2j * np.pi * freq * ((f - 1) / 2) / n)


def _kspace_axis(x: np.ndarray, axis: int, f: int) -> np.ndarray:
    """Keep the central n/f frequencies along one axis (separable, so axes go one by one)."""
    shape = [1] * x.ndim
    shape[axis] = -1
    kept, phase = kspace_band(x.shape[axis], f)
    spectrum = scipy.fft.fft(x, axis=axis, workers=-1)
    low = np.take(spectrum, kept, axis=axis) * phase.astype(spectrum.dtype).reshape(shape)
    # ifft divides by m; dividing by f as well keeps the DC term as the mean intensity.
    return scipy.fft.ifft(low, axis=axis, workers=-1).real / f


def filter_taps(kind: DegradationMethod, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (consecutive HR voxels from ``f*i``) and weights of LR voxel ``i``'s filter."""
    if kind is DegradationMethod.THICK_SLICE:
        return np.arange(f), np.full(f, 1.0 / f)
    sigma = f / (2 * np.sqrt(2 * np.log(2)))  # FWHM of f HR voxels: the LR voxel width
    centre = (f - 1) / 2
    radius = int(np.ceil(4 * sigma))
    offsets = np.arange(int(np.floor(centre)) - radius, int(np.ceil(centre)) + radius + 1)
    weights = np.exp(-0.5 * ((offsets - centre) / sigma) ** 2)
    # Each HR voxel meets the taps of one phase (offset mod f); making every phase sum to 1/f
    # lets each voxel contribute exactly 1/f of itself, so the mean intensity is kept.
    for phase in range(f):
        taps = offsets % f == phase
        weights[taps] /= weights[taps].sum() * f
    return offsets, weights


def filter_pad(offsets: np.ndarray, f: int) -> int:
    """HR voxels of mirrored border that :func:`filter_taps`' offsets reach beyond the axis."""
    return int(max(-offsets.min(), offsets.max() - (f - 1), 0))


def symmetric_index(n: int, pad: int) -> np.ndarray:
    """Indices ``-pad .. n + pad - 1`` mirrored half-sample symmetrically into ``0 .. n - 1``."""
    index = np.arange(-pad, n + pad)
    index = np.where(index < 0, -1 - index, index)
    return np.clip(np.where(index >= n, 2 * n - 1 - index, index), 0, n - 1)


def _filter_decimate(x: np.ndarray, axis: int, f: int, offsets: np.ndarray, weights: np.ndarray):
    """out[i] = sum_k weights[k] * x[f*i + offsets[k]] with half-sample symmetric borders.

    Written by hand because scipy's filters centre on integer voxels, while LR centres fall
    half-way between HR voxels for even factors.
    """
    pad = filter_pad(offsets, f)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    padded = np.pad(x, widths, mode="symmetric")
    starts = np.arange(x.shape[axis] // f) * f + pad
    shape = list(x.shape)
    shape[axis] = starts.size
    out = np.zeros(shape)
    for offset, weight in zip(offsets, weights, strict=True):
        out += weight * np.take(padded, starts + offset, axis=axis)
    return out


def _gaussian_axis(x: np.ndarray, axis: int, f: int) -> np.ndarray:
    return _filter_decimate(x, axis, f, *filter_taps(DegradationMethod.GAUSSIAN, f))


def _thick_slice_axis(x: np.ndarray, axis: int, f: int) -> np.ndarray:
    return _filter_decimate(x, axis, f, *filter_taps(DegradationMethod.THICK_SLICE, f))


def apply_along_axis(data: np.ndarray, matrix: np.ndarray, axis: int) -> np.ndarray:
    """``matrix @ data`` along ``axis`` (a separable linear map such as :func:`profile_matrix`)."""
    moved = np.moveaxis(np.asarray(data, dtype=np.float64), axis, -1) @ matrix.T
    return np.moveaxis(moved, -1, axis)


def axis_operator(n: int, f: int, method: str = DegradationMethod.KSPACE) -> np.ndarray:
    """:func:`simulate_lr`'s noise-free forward model along one axis of ``n`` voxels as an
    ``(n // f, n)`` matrix, for :func:`apply_along_axis` (every method is linear and separable)."""
    return _DEGRADERS[degradation_method(method)](np.eye(n), 0, f)


def rician(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise: the noise of magnitude MRI."""
    real = x + rng.normal(0.0, sigma, x.shape)
    imag = rng.normal(0.0, sigma, x.shape)
    return np.hypot(real, imag)


_rician = rician


_DEGRADERS = {
    DegradationMethod.KSPACE: _kspace_axis,
    DegradationMethod.GAUSSIAN: _gaussian_axis,
    DegradationMethod.THICK_SLICE: _thick_slice_axis,
}
