"""The random draws of one training patch, shared by both pipelines (numpy, on the CPU).

A patch's place, flips and intensity scale are a few numbers each: both the worker pipeline
(:mod:`.workers`) and the device pipeline (:mod:`.device`) draw them here, so the two make
the same kind of batch.
"""

from __future__ import annotations

import numpy as np

from ..config import DataConfig
from .volumes import MARGIN, TrainingVolume

__all__ = ["draw_flips", "draw_scale", "draw_start", "hr_core", "lr_core", "region_slices"]


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
    return tuple(slice(MARGIN, -MARGIN) if p else slice(None) for p in pad)


def hr_core(pad: tuple[int, ...], size: list[int]) -> tuple[slice, ...]:
    """The HR patch inside a region."""
    return tuple(slice(p, p + n) for p, n in zip(pad, size, strict=True))


def draw_flips(rng: np.random.Generator) -> np.ndarray:
    """Which of the three axes to flip (each with probability 1/2)."""
    return rng.random(3) < 0.5


def draw_scale(rng: np.random.Generator, jitter: float) -> float:
    """An intensity scale in ``[1 - jitter, 1 + jitter]``."""
    return 1.0 + rng.uniform(-1, 1) * jitter
