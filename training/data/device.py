"""Training batches made on the training device (``data.pipeline: device``).

The batched twin of :class:`~napari_mrisr.training.data.workers.PatchDataset`: the same draws (its
helpers, on the CPU with numpy: a few numbers per patch), but each batch is cut from volumes
held on the device and degraded there by :mod:`napari_mrisr.volume.degrade_torch`, the torch version of
the same forward model; flips, intensity jitter and Rician noise are applied there too. No
worker processes and no host-to-device copies, so a GPU is not left waiting for CPU workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from napari_mrisr.transfer import upload
from napari_mrisr.volume.degrade_torch import rician, simulate_lr

from ..config import TrainConfig
from .augment import Augmentation, augment, draw_augmentation, per_patch
from .draws import draw_flips, draw_scale, draw_start, hr_core, lr_core, region_slices
from .family import Degradation, degrade_torch_batch, draw_degradation
from .volumes import TrainingVolume, check_patch_size

__all__ = ["DeviceBatches", "to_device"]


@dataclass
class _Draw:
    """One patch's random choices."""

    volume: int
    region: tuple[slice, ...]
    sigma: float  # noise std (normalised intensity), before the empty-region check
    flips: np.ndarray
    scale: float
    augmentation: Augmentation | None = None
    degradation: Degradation | None = None  # a family's variant (None: the configured method)


def to_device(volumes: list[TrainingVolume], device: torch.device) -> list[torch.Tensor]:
    """The volumes' padded, normalised data as tensors on ``device``."""
    return [torch.from_numpy(v.data).to(device) for v in volumes]


class DeviceBatches:
    """``length`` random ``(LR, HR)`` batches, ``(B, 1, ...)`` float32, made on the tensors' device.

    ``tensors`` are :func:`to_device` of ``volumes``; ``seed`` fixes every draw and the noise.
    """

    def __init__(
        self,
        volumes: list[TrainingVolume],
        tensors: list[torch.Tensor],
        config: TrainConfig,
        length: int,
        seed: int,
    ) -> None:
        check_patch_size(volumes, config.data.patch_size)
        self.volumes, self.tensors = volumes, tensors
        self.data, self.degradation = config.data, config.degradation
        self.length = length
        self.device = tensors[0].device
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.length):
            yield self.batch()

    def _draw(self) -> _Draw:
        rng, d, noise = self.rng, self.data, self.degradation.noise
        index = int(rng.integers(len(self.volumes)))
        volume = self.volumes[index]
        region = region_slices(volume, draw_start(rng, volume, d), d.patch_size)
        if self.degradation.family:
            degradation = draw_degradation(rng, self.degradation, volume.maximum)
            sigma = degradation.sigma
        else:
            degradation, sigma = None, rng.uniform(0, noise) * volume.maximum if noise > 0 else 0.0
        flips = draw_flips(rng) if d.flips else np.zeros(3, bool)
        scale = draw_scale(rng, d.intensity_jitter)
        return _Draw(index, region, sigma, flips, scale, draw_augmentation(rng, d.augment), degradation)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: regions cut and degraded together, then noise, flips and jitter per patch."""
        draws = [self._draw() for _ in range(self.data.batch_size)]
        region = torch.stack([self.tensors[d.volume][d.region] for d in draws])
        region = augment(region, [d.augmentation for d in draws])
        pad = self.volumes[0].pad  # the margin depends only on the factors
        if self.degradation.family:  # noise included
            lr = degrade_torch_batch(region, self.degradation.factors, [d.degradation for d in draws], self.generator)
        else:
            lr = simulate_lr(region, self.degradation.factors, self.degradation.method)
        lr, hr = lr[(..., *lr_core(pad))], region[(..., *hr_core(pad, self.data.patch_size))]
        if self.degradation.noise > 0 and not self.degradation.family:  # an all-zero region stays noise-free, as on the CPU
            empty = (region.flatten(1).amax(1) <= 0).view(-1, 1, 1, 1)
            sigma = per_patch(lr, [d.sigma for d in draws]).masked_fill(empty, 0.0)
            lr = rician(lr, sigma, self.generator)
        flips = np.stack([d.flips for d in draws])
        for axis in np.flatnonzero(flips.any(0)):  # decided on the CPU: no device sync
            flip = upload(flips[:, axis], self.device).view(-1, 1, 1, 1)
            lr = torch.where(flip, lr.flip(int(axis) + 1), lr)
            hr = torch.where(flip, hr.flip(int(axis) + 1), hr)
        scale = per_patch(lr, [d.scale for d in draws])
        return (lr * scale).unsqueeze(1).contiguous(), (hr * scale).unsqueeze(1).contiguous()
