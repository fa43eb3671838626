"""The forward model of :mod:`napari_mrisr.volume.degrade` on torch tensors, for batches on any device.

The same numbers as the numpy functions (the k-space band, filter taps, mirrored borders and
slice-profile matrices come from :mod:`~napari_mrisr.volume.degrade`), applied with ``torch.fft``,
strided windows and matrix products, so a GPU training loop makes its LR patches with the
forward model the GUI shows. Tensors are ``(..., X, Y, Z)``: any leading batch dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from napari_mrisr.transfer import upload
from napari_mrisr.volume.degrade import (
    DegradationMethod,
    degradation_method,
    filter_pad,
    filter_taps,
    kspace_band,
    symmetric_index,
)
from napari_mrisr.volume.slice_profile import SliceProfile, profile_matrix

from .geometry import as_factors

__all__ = ["apply_along_dim", "rician", "simulate_lr", "simulate_slices"]


def simulate_lr(
    hr: torch.Tensor, factors: int | Sequence[int], method: str = DegradationMethod.KSPACE
) -> torch.Tensor:
    """:func:`napari_mrisr.volume.degrade.simulate_lr` without noise (add it with :func:`rician`).

    The last three dimensions are cropped to multiples of ``factors`` and degraded; the
    result has ``hr``'s dtype and device.
    """
    f = as_factors(factors)
    kind = degradation_method(method)
    x = hr[(..., *(slice(n // fa * fa) for n, fa in zip(hr.shape[-3:], f, strict=True)))]
    for dim, fa in zip((-3, -2, -1), f, strict=True):
        if fa > 1 and kind is DegradationMethod.KSPACE:
            x = _kspace(x, dim, fa)
        elif fa > 1:
            x = _filter(x, dim, fa, kind)
    return x


def simulate_slices(
    hr: torch.Tensor,
    ratio: float,
    thickness: float | None = None,
    profile: str = SliceProfile.RECT,
    dim: int = -1,
) -> torch.Tensor:
    """Slices ``ratio`` HR voxels apart along ``dim``: :func:`napari_mrisr.volume.slice_profile.simulate_slices`
    on the data, with ratio and thickness in HR voxels.

    A ``thickness`` below ``ratio`` leaves a gap; fractional ratios are allowed. The weights
    are :func:`~napari_mrisr.volume.slice_profile.profile_matrix`'s.
    """
    matrix = profile_matrix(hr.shape[dim], ratio, thickness, profile)
    return apply_along_dim(hr, torch.from_numpy(matrix), dim)


def apply_along_dim(x: torch.Tensor, matrix: torch.Tensor, dim: int) -> torch.Tensor:
    """``matrix @ x`` along ``dim`` (:func:`napari_mrisr.volume.degrade.apply_along_axis` for tensors)."""
    moved = x.movedim(dim, -1) @ upload(matrix, x.device, x.dtype).T
    return moved.movedim(-1, dim)


def rician(
    x: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Magnitude of ``x`` plus complex Gaussian noise of std ``sigma`` (broadcast: per sample)."""
    noise = torch.randn((2, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return torch.hypot(x + sigma * noise[0], sigma * noise[1])


def _kspace(x: torch.Tensor, dim: int, f: int) -> torch.Tensor:
    kept, phase = kspace_band(x.shape[dim], f)
    spectrum = torch.fft.fft(x, dim=dim)
    shape = [1] * x.ndim
    shape[dim] = -1
    ramp = upload(phase, spectrum.device, spectrum.dtype).reshape(shape)
    low = spectrum.index_select(dim, upload(kept, x.device)) * ramp
    return torch.fft.ifft(low, dim=dim).real / f


def _filter(x: torch.Tensor, dim: int, f: int, kind: DegradationMethod) -> torch.Tensor:
    """out[i] = sum_k w[k] x[f*i + offset[k]], mirrored borders: strided windows times the taps."""
    offsets, weights = filter_taps(kind, f)
    dim = dim % x.ndim  # unfold appends a dimension: count from the front
    n, pad = x.shape[dim], filter_pad(offsets, f)
    index = upload(symmetric_index(n, pad)[pad + offsets[0] :], x.device)
    windows = x.index_select(dim, index).unfold(dim, len(offsets), f).narrow(dim, 0, n // f)
    return windows @ upload(weights, x.device, x.dtype)
