"""Random (LR, HR) patch pairs made in CPU DataLoader workers (``data.pipeline: workers``).

LR patches are made on the fly by :func:`napari_mrisr.volume.degrade.simulate_lr`, the forward
model the GUI shows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.geometry import as_factors

from ..config import TrainConfig
from .augment import augment_numpy, draw_augmentation
from .draws import draw_flips, draw_scale, draw_start, hr_core, lr_core, region_slices
from .family import degrade_numpy, draw_degradation
from .volumes import TrainingVolume, check_patch_size

__all__ = ["PatchDataset"]


class PatchDataset(Dataset):
    """Random (LR, HR) patch pairs, ``length`` per epoch, drawn from the training volumes.

    Randomness comes from torch's generator, which the DataLoader seeds per worker and epoch, so
    ``lightning.seed_everything(seed, workers=True)`` makes runs reproducible.
    """

    def __init__(self, volumes: list[TrainingVolume], config: TrainConfig, length: int) -> None:
        check_patch_size(volumes, config.data.patch_size)
        self.volumes = volumes
        self.data = config.data
        self.degradation = config.degradation
        self.factors = as_factors(config.degradation.factors)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        volume = self.volumes[rng.integers(len(self.volumes))]
        size = self.data.patch_size
        region = volume.data[region_slices(volume, draw_start(rng, volume, self.data), size)]
        region = augment_numpy(region, draw_augmentation(rng, self.data.augment))
        if self.degradation.family:
            draw = draw_degradation(rng, self.degradation, volume.maximum)
            lr = degrade_numpy(region, self.factors, draw, seed=int(rng.integers(2**31)))
        else:  # the single configured acquisition (the draws of every run before families)
            noise = 0.0
            if self.degradation.noise > 0 and region.max() > 0:
                noise = rng.uniform(0, self.degradation.noise) * volume.maximum / float(region.max())
            lr = simulate_lr(
                Volume(region, np.eye(4)), self.factors, self.degradation.method, noise, seed=int(rng.integers(2**31))
            ).data
        lr, hr = lr[lr_core(volume.pad)], region[hr_core(volume.pad, size)]
        if self.data.flips:
            axes = tuple(int(a) for a in np.flatnonzero(draw_flips(rng)))
            lr, hr = np.flip(lr, axes), np.flip(hr, axes)
        scale = draw_scale(rng, self.data.intensity_jitter)
        return (
            torch.from_numpy(np.ascontiguousarray(lr * scale, dtype=np.float32))[None],
            torch.from_numpy(np.ascontiguousarray(hr * scale, dtype=np.float32))[None],
        )
