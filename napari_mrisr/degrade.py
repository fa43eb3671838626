"""Simulated low-resolution acquisitions: the one forward model the GUI, CLI and training use.

Every method keeps the geometry of :mod:`napari_mrisr.geometry` (LR voxel ``i`` is centred at
HR voxel ``f*i + (f-1)/2``) and preserves the mean intensity of the (cropped) HR volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

from .geometry import as_factors, crop_to_multiple, downsampled_affine
from .io import Volume

__all__ = ["METHODS", "simulate_lr"]

METHODS = ("kspace", "gaussian", "thick_slice")


def simulate_lr(
    volume: Volume,
    factors: int | Sequence[int] = (2, 2, 2),
    method: str = "kspace",
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
    method : {"kspace", "gaussian", "thick_slice"}
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
    if method not in METHODS:
        raise ValueError(f"Unknown degradation method {method!r}; choose one of {METHODS}.")
    if noise < 0:
        raise ValueError(f"Noise must be >= 0, got {noise}.")
    hr = crop_to_multiple(volume.data, f)
    lr = hr
    for axis, fa in enumerate(f):
        if fa > 1:
            lr = _DEGRADERS[method](lr, axis, fa)
    if noise > 0:
        lr = _rician(lr, noise * float(np.abs(hr).max()), np.random.default_rng(seed))
    label = "x".join(str(v) for v in f) if len(set(f)) > 1 else str(f[0])
    return Volume(
        data=np.ascontiguousarray(lr, dtype=np.float32),
        affine=downsampled_affine(volume.affine, f),
        name=f"{volume.name} LR {method} x{label}",
    )


def _kspace_axis(x: np.ndarray, axis: int, f: int) -> np.ndarray:
    """Keep the central n/f frequencies along one axis (separable, so axes go one by one)."""
    n = x.shape[axis]
    m = n // f
    shape = [1] * x.ndim
    shape[axis] = n
    spectrum = scipy.fft.fft(x, axis=axis, workers=-1)
    # Shift by (f-1)/2 HR voxels so LR samples fall on the LR voxel centres, not on f*i.
    freq = scipy.fft.fftfreq(n, d=1 / n)
    spectrum *= np.exp(2j * np.pi * freq * ((f - 1) / 2) / n).astype(spectrum.dtype).reshape(shape)
    kept = (scipy.fft.fftfreq(m, d=1 / m).astype(int)) % n
    low = np.take(spectrum, kept, axis=axis)
    # ifft divides by m; dividing by f as well keeps the DC term as the mean intensity.
    return scipy.fft.ifft(low, axis=axis, workers=-1).real / f


def _filter_decimate(x: np.ndarray, axis: int, f: int, offsets: np.ndarray, weights: np.ndarray):
    """out[i] = sum_k weights[k] * x[f*i + offsets[k]] with half-sample symmetric borders.

    Written by hand because scipy's filters centre on integer voxels, while LR centres fall
    half-way between HR voxels for even factors.
    """
    pad = int(max(-offsets.min(), offsets.max() - (f - 1), 0))
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
    return _filter_decimate(x, axis, f, offsets, weights)


def _thick_slice_axis(x: np.ndarray, axis: int, f: int) -> np.ndarray:
    return _filter_decimate(x, axis, f, np.arange(f), np.full(f, 1.0 / f))


def _rician(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise: the noise of magnitude MRI."""
    real = x + rng.normal(0.0, sigma, x.shape)
    imag = rng.normal(0.0, sigma, x.shape)
    return np.hypot(real, imag)


_DEGRADERS = {"kspace": _kspace_axis, "gaussian": _gaussian_axis, "thick_slice": _thick_slice_axis}
