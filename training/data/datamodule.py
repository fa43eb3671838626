"""The Lightning data module: volumes loaded and split once, batches from either pipeline.

``data.pipeline`` chooses where patches are cut and degraded: CPU DataLoader workers
(:mod:`.workers`) or whole batches on the training device (:mod:`.device`).
"""

from __future__ import annotations

import os

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from napari_mrisr.volume.geometry import as_factors

from ..config import TrainConfig
from .augment import rotated_copies
from .device import DeviceBatches, to_device
from .volumes import (
    TrainingVolume,
    ValidationPair,
    load_volumes,
    make_validation_pair,
    split_volumes,
)
from .workers import PatchDataset

__all__ = ["SRDataModule"]


class SRDataModule(pl.LightningDataModule):
    """Loads and splits the volumes once; serves patch batches and validation volume indices."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.train_volumes: list[TrainingVolume] = []
        self.validation: list[ValidationPair] = []
        self._on_device: tuple[torch.device, list[torch.Tensor]] | None = None  # made once

    def setup(self, stage: str | None = None) -> None:
        if self.validation:
            return
        c = self.config
        train, val = split_volumes(
            load_volumes(c.data.paths), c.data, as_factors(c.degradation.factors), c.seed
        )
        train += rotated_copies(train, c.data.augment, c.seed)
        self.train_volumes = [TrainingVolume.prepare(v, c.degradation) for v in train]
        self.validation = [
            make_validation_pair(v, c.degradation, c.validation.noise_seed + i) for i, v in enumerate(val)
        ]

    def pipeline_device(self) -> torch.device | None:
        """The device that makes the batches (``data.pipeline``), or None for CPU workers."""
        pipeline = self.config.data.pipeline
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if pipeline != "auto":
            return device if pipeline == "device" else None
        if device.type != "cuda":
            return None
        free, _ = torch.cuda.mem_get_info(device)
        return device if sum(v.data.nbytes for v in self.train_volumes) < free / 2 else None

    def train_dataloader(self):
        c = self.config
        world = self.trainer.world_size if self.trainer is not None else 1
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        # The last epoch is shorter when total_steps is not a multiple of steps_per_epoch (the
        # loader is rebuilt every epoch), so every epoch ends with a validation.
        steps = max(1, min(c.schedule.steps_per_epoch, c.schedule.total_steps - epoch * c.schedule.steps_per_epoch))
        device = self.pipeline_device()
        if device is not None:
            return self._device_batches(device, steps)
        length = steps * c.data.batch_size * world
        workers = c.data.num_workers
        if workers == "auto":
            workers = min(8, max(0, (os.cpu_count() or 1) - 1))
        return DataLoader(
            PatchDataset(self.train_volumes, c, length),
            batch_size=c.data.batch_size,
            shuffle=False,  # every item is already a fresh random draw
            num_workers=workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=workers > 0,
            drop_last=True,
        )

    def _device_batches(self, device: torch.device, steps: int):
        """``steps`` batches made on ``device``: each rank draws its own, so none is shared."""
        if self._on_device is None or self._on_device[0] != device:
            self._on_device = device, to_device(self.train_volumes, device)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        # From torch's generator, which seed_everything sets: reproducible, new every epoch.
        seed = int(torch.randint(0, 2**62, ()).item()) + rank
        return DeviceBatches(self.train_volumes, self._on_device[1], self.config, steps, seed)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(list(range(len(self.validation))), batch_size=None)
