"""Training data: volumes and their split, the patch draws, and the two batch pipelines.

- :mod:`.volumes`: load, split (volumes or slabs), normalise; validation pairs.
- :mod:`.draws`: one patch's random place, flips and intensity scale.
- :mod:`.augment`, :mod:`.family`: HR augmentation and degradation families.
- :mod:`.workers` (CPU DataLoader workers) and :mod:`.device` (whole batches on the training
  device): the same batches, made in two places.
- :mod:`.datamodule`: the Lightning data module that serves them.
"""

from .datamodule import SRDataModule
from .device import DeviceBatches
from .volumes import (
    TrainingVolume,
    ValidationPair,
    load_volumes,
    make_validation_pair,
    split_volumes,
)
from .workers import PatchDataset

__all__ = [
    "DeviceBatches",
    "PatchDataset",
    "SRDataModule",
    "TrainingVolume",
    "ValidationPair",
    "load_volumes",
    "make_validation_pair",
    "split_volumes",
]
