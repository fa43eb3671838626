"""Degradation families: each training patch drawn from one of several simulated acquisitions.

A variant without a width is :func:`napari_mrisr.volume.degrade.simulate_lr`'s own method; one with a
width is a slice profile (:func:`napari_mrisr.volume.slice_profile.profile_matrix`: a Gaussian of that FWHM
or a box of that thickness, in LR voxels) on the same LR grid. Both pipelines use these
functions: :func:`degrade_numpy` in the CPU workers, :func:`degrade_torch` on the device, with
the same matrices, so they agree to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from napari_mrisr.transfer import upload
from napari_mrisr.volume import degrade_torch
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import DegradationMethod, apply_along_axis, rician, simulate_lr
from napari_mrisr.volume.slice_profile import SliceProfile, profile_matrix

from ..config import DegradationConfig

__all__ = ["Degradation", "degrade_numpy", "degrade_torch_batch", "draw_degradation"]

_PROFILES = {DegradationMethod.GAUSSIAN: SliceProfile.GAUSSIAN, DegradationMethod.THICK_SLICE: SliceProfile.RECT}


@dataclass(frozen=True)
class Degradation:
    """One patch's drawn acquisition."""

    method: DegradationMethod
    width: float | None  # LR voxels; None: simulate_lr's own filter
    sigma: float  # Rician noise std in normalised intensity (none on an all-zero region)

    def matrix(self, n: int, factor: int) -> np.ndarray:
        """The ``(n // factor, n)`` slice-profile matrix of a variant with a width."""
        return profile_matrix(n, factor, self.width * factor, _PROFILES[self.method])


def draw_degradation(rng: np.random.Generator, degradation: DegradationConfig, maximum: float) -> Degradation:
    """Draw a variant of ``degradation.family`` (by weight), its width and its noise.

    ``maximum`` is the volume's normalised maximum, the unit of the noise fractions.
    """
    family = degradation.family
    weights = np.array([v.weight for v in family], dtype=float)
    variant = family[int(rng.choice(len(family), p=weights / weights.sum()))]
    width = float(rng.uniform(*variant.width)) if variant.width is not None else None
    if variant.noise is not None:
        sigma = float(rng.uniform(*variant.noise)) * maximum
    else:
        sigma = float(rng.uniform(0, degradation.noise)) * maximum if degradation.noise > 0 else 0.0
    return Degradation(DegradationMethod(variant.method), width, sigma)


def degrade_numpy(region: np.ndarray, factors: Sequence[int], draw: Degradation, seed: int) -> np.ndarray:
    """The LR of an HR region (its shape a multiple of ``factors``) under ``draw``, float32."""
    if draw.width is None:
        lr = simulate_lr(Volume(region, np.eye(4)), factors, draw.method).data
    else:
        lr = region
        for axis, f in enumerate(factors):
            if f > 1:
                lr = apply_along_axis(lr, draw.matrix(lr.shape[axis], f), axis)
    if draw.sigma > 0 and region.max() > 0:
        lr = rician(lr, draw.sigma, np.random.default_rng(seed))
    return np.asarray(lr, dtype=np.float32)


def degrade_torch_batch(
    region: torch.Tensor, factors: Sequence[int], draws: Sequence[Degradation], generator: torch.Generator
) -> torch.Tensor:
    """:func:`degrade_numpy` for a batch ``(B, X, Y, Z)``: one drawn acquisition per patch.

    Patches of one plain method are degraded together; slice-profile patches with batched
    matrix products (one matrix per patch and axis).
    """
    outputs: list[tuple[list[int], torch.Tensor]] = []
    for method in DegradationMethod:
        plain = [i for i, d in enumerate(draws) if d.method == method and d.width is None]
        if plain:
            outputs.append((plain, degrade_torch.simulate_lr(region[plain], factors, method)))
    profiled = [i for i, d in enumerate(draws) if d.width is not None]
    if profiled:
        x = region[profiled]
        for dim, f in zip((1, 2, 3), factors, strict=True):
            if f > 1:
                n = x.shape[dim]
                matrices = np.stack([draws[i].matrix(n, f).T for i in profiled])  # (b, n, m)
                weights = upload(matrices, x.device, x.dtype)[:, None]
                x = (x.movedim(dim, -1) @ weights).movedim(-1, dim)
        outputs.append((profiled, x))
    lr = region.new_empty((len(draws), *outputs[0][1].shape[1:]))
    for index, values in outputs:
        lr[index] = values
    if any(d.sigma > 0 for d in draws):  # decided on the CPU: no device sync
        sigma = upload([d.sigma for d in draws], region.device, region.dtype)
        empty = region.flatten(1).amax(1) <= 0  # an all-zero region stays noise-free, as on the CPU
        lr = degrade_torch.rician(lr, sigma.masked_fill(empty, 0.0).view(-1, 1, 1, 1), generator)
    return lr
