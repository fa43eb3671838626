"""Training volumes: loading, the train/validation split, normalisation, validation pairs.

Intensities are normalised per volume exactly as inference does: the 0.5/99.5 percentiles of
the whole LR volume map to 0 and 1 (:func:`napari_mrisr.engine.inference.intensity_range`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_mrisr.engine.inference import intensity_range
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.comparison import scale_factors
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.geometry import as_factors, crop_to_multiple, superior_axis
from napari_mrisr.volume.io import find_volumes, load_volume
from napari_mrisr.volume.metrics import foreground_mask

from ..config import DataConfig, DegradationConfig

__all__ = [
    "MARGIN",
    "TrainingVolume",
    "ValidationPair",
    "check_patch_size",
    "load_volumes",
    "make_validation_pair",
    "split_volumes",
]

# LR voxels of context degraded around each patch and cropped away, so a patch's LR matches
# the whole-volume LR (k-space truncation and Gaussian blur reach beyond the patch).
MARGIN = 4


def load_volumes(paths: list[str]) -> list[Volume]:
    """Load the configured volumes; no paths means the built-in MNI152 T1 sample."""
    if not paths:
        from napari_mrisr.volume.sample import mni152_hr

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

    data: np.ndarray  # normalised HR, padded by MARGIN * f per axis
    pad: tuple[int, ...]
    shape: tuple[int, int, int]  # unpadded
    foreground: np.ndarray  # (N, 3) voxel indices, unpadded
    maximum: float

    @classmethod
    def prepare(cls, volume: Volume, degradation: DegradationConfig) -> TrainingVolume:
        low, high = intensity_range(simulate_lr(volume, degradation.factors, degradation.method).data)
        data = (volume.data.astype(np.float32) - low) / (high - low)
        pad = tuple(MARGIN * f if f > 1 else 0 for f in degradation.factors)
        foreground = np.argwhere(foreground_mask(data))
        return cls(
            data=np.pad(data, [(p, p) for p in pad], mode="reflect"),
            pad=pad,
            shape=volume.shape,
            foreground=foreground if len(foreground) else np.argwhere(np.ones(volume.shape, bool)),
            maximum=float(data.max()),
        )


def check_patch_size(volumes: list[TrainingVolume], patch_size: list[int]) -> None:
    """Refuse, in one sentence, a training volume smaller than the patch."""
    for v in volumes:
        if any(s < p for s, p in zip(v.shape, patch_size, strict=True)):
            raise VolumeError(
                f"A training volume of shape {v.shape} is smaller than the patch size "
                f"{tuple(patch_size)}; use smaller patches (data.patch_size)."
            )


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
