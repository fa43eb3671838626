"""Training data: volumes, the train/validation split, and random LR/HR patch pairs.

LR patches are made on the fly by :func:`napari_mrisr.degrade.simulate_lr`, the forward model
the GUI shows: in CPU DataLoader workers (:class:`PatchDataset`), or on the training device as
whole batches (:class:`~napari_mrisr.training.device_data.DeviceBatches`, with the torch twin of
the same forward model), as ``data.pipeline`` says. Intensities are normalised per volume
exactly as inference does: the 0.5/99.5 percentiles of the whole LR volume map to 0 and 1
(:func:`napari_mrisr.inference.intensity_range`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from napari_mrisr.compare import scale_factors
from napari_mrisr.degrade import simulate_lr
from napari_mrisr.geometry import as_factors, crop_to_multiple, superior_axis
from napari_mrisr.inference import intensity_range
from napari_mrisr.io import Volume, VolumeError, find_volumes, load_volume
from napari_mrisr.metrics import foreground_mask

from .augment import augment_numpy, draw_augmentation, rotated_copies
from .config import DataConfig, DegradationConfig, TrainConfig
from .family import degrade_numpy, draw_degradation

__all__ = [
    "PatchDataset",
    "SRDataModule",
    "TrainingVolume",
    "ValidationPair",
    "load_volumes",
    "make_validation_pair",
    "split_volumes",
]

# LR voxels of context degraded around each patch and cropped away, so a patch's LR matches
# the whole-volume LR (k-space truncation and Gaussian blur reach beyond the patch).
_MARGIN = 4


def load_volumes(paths: list[str]) -> list[Volume]:
    """Load the configured volumes; no paths means the built-in MNI152 T1 sample."""
    if not paths:
        from napari_mrisr.sample import mni152_hr

        return [mni152_hr()]
    return [load_volume(p) for p in find_volumes(paths)]


def _slab(volume: Volume, axis: int, start: int, stop: int, tag: str) -> Volume:
    index = [slice(None)] * 3
    index[axis] = slice(start, stop)
    shift = np.eye(4)
    shift[axis, 3] = start
    return Volume(np.ascontiguousarray(volume.data[tuple(index)]), volume.affine @ shift, f"{volume.name} {tag}")


def split_volumes(
    volumes: list[Volume], config: DataConfig, factors: tuple[int, int, int], seed: int = 0
) -> tuple[list[Volume], list[Volume]]:
    """Split into training and validation volumes.

    Several volumes: a seeded shuffle, the last ``validation_fraction`` (at least one) held out.
    One volume: a slab across the superior axis, centred, is held out, and ``slab_gap`` voxels
    on either side are dropped, so no validation voxel (nor its neighbourhood) is trained on.
    """
    if len(volumes) > 1:
        order = np.random.default_rng(seed).permutation(len(volumes))
        n_val = max(1, round(config.validation_fraction * len(volumes)))
        return [volumes[i] for i in order[:-n_val]], [volumes[i] for i in order[-n_val:]]
    (volume,) = volumes
    axis = superior_axis(volume.affine)
    n, f = volume.shape[axis], factors[axis]
    length = max(f, int(config.validation_fraction * n) // f * f)
    start = (n - length) // 2 // f * f
    stop = start + length
    train = [
        _slab(volume, axis, 0, start - config.slab_gap, "train inferior"),
        _slab(volume, axis, stop + config.slab_gap, n, "train superior"),
    ]
    train = [v for v in train if v.shape[axis] > 0]
    if not train:
        raise VolumeError(f"{volume.name!r} is too thin to split into training and validation slabs.")
    return train, [_slab(volume, axis, start, stop, "validation slab")]


@dataclass
class TrainingVolume:
    """A training volume, normalised like inference, padded for the degradation margin."""

    data: np.ndarray  # normalised HR, padded by _MARGIN * f per axis
    pad: tuple[int, ...]
    shape: tuple[int, int, int]  # unpadded
    foreground: np.ndarray  # (N, 3) voxel indices, unpadded
    maximum: float

    @classmethod
    def prepare(cls, volume: Volume, degradation: DegradationConfig) -> TrainingVolume:
        low, high = intensity_range(simulate_lr(volume, degradation.factors, degradation.method).data)
        data = (volume.data.astype(np.float32) - low) / (high - low)
        pad = tuple(_MARGIN * f if f > 1 else 0 for f in degradation.factors)
        foreground = np.argwhere(foreground_mask(data))
        return cls(
            data=np.pad(data, [(p, p) for p in pad], mode="reflect"),
            pad=pad,
            shape=volume.shape,
            foreground=foreground if len(foreground) else np.argwhere(np.ones(volume.shape, bool)),
            maximum=float(data.max()),
        )


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


def check_patch_size(volumes: list[TrainingVolume], patch_size: list[int]) -> None:
    """Refuse, in one sentence, a training volume smaller than the patch."""
    for v in volumes:
        if any(s < p for s, p in zip(v.shape, patch_size, strict=True)):
            raise VolumeError(
                f"A training volume of shape {v.shape} is smaller than the patch size "
                f"{tuple(patch_size)}; use smaller patches (data.patch_size)."
            )


def draw_start(rng: np.random.Generator, volume: TrainingVolume, data: DataConfig) -> np.ndarray:
    """A patch's first voxel: centred on a foreground voxel (``foreground_fraction``) or anywhere."""
    size = np.asarray(data.patch_size)
    if rng.random() < data.foreground_fraction:
        centre = volume.foreground[rng.integers(len(volume.foreground))]
    else:
        centre = rng.integers(0, volume.shape)
    return np.clip(centre - size // 2, 0, np.asarray(volume.shape) - size)


def region_slices(volume: TrainingVolume, start: np.ndarray, size: list[int]) -> tuple[slice, ...]:
    """The padded region a patch starting at ``start`` degrades: the patch plus its margin."""
    return tuple(slice(s, s + n + 2 * p) for s, n, p in zip(start, size, volume.pad, strict=True))


def lr_core(pad: tuple[int, ...]) -> tuple[slice, ...]:
    """The LR patch inside a degraded region (its margin cropped away)."""
    return tuple(slice(_MARGIN, -_MARGIN) if p else slice(None) for p in pad)


def hr_core(pad: tuple[int, ...], size: list[int]) -> tuple[slice, ...]:
    """The HR patch inside a region."""
    return tuple(slice(p, p + n) for p, n in zip(pad, size, strict=True))


def draw_flips(rng: np.random.Generator) -> np.ndarray:
    """Which of the three axes to flip (each with probability 1/2)."""
    return rng.random(3) < 0.5


def draw_scale(rng: np.random.Generator, jitter: float) -> float:
    """An intensity scale in ``[1 - jitter, 1 + jitter]``."""
    return 1.0 + rng.uniform(-1, 1) * jitter


@dataclass
class ValidationPair:
    """A held-out HR volume (cropped to the factors) and its simulated LR acquisition."""

    hr: Volume
    lr: Volume
    mask: np.ndarray

    @property
    def factors(self) -> tuple[int, int, int]:
        return scale_factors(self.lr.shape, self.hr.shape)


def make_validation_pair(volume: Volume, degradation: DegradationConfig, seed: int = 0) -> ValidationPair:
    """The LR of a validation volume, with half the configured noise (the mean training level)."""
    f = as_factors(degradation.factors)
    lr = simulate_lr(volume, f, degradation.method, degradation.noise / 2, seed=seed)
    hr = Volume(crop_to_multiple(volume.data, f).astype(np.float32), volume.affine, volume.name)
    return ValidationPair(hr, lr, foreground_mask(hr.data))


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
        from .device_data import DeviceBatches, to_device  # it builds on this module's helpers

        if self._on_device is None or self._on_device[0] != device:
            self._on_device = device, to_device(self.train_volumes, device)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        # From torch's generator, which seed_everything sets: reproducible, new every epoch.
        seed = int(torch.randint(0, 2**62, ()).item()) + rank
        return DeviceBatches(self.train_volumes, self._on_device[1], self.config, steps, seed)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(list(range(len(self.validation))), batch_size=None)
