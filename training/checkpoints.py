"""Training checkpoints: written atomically, read weights-only, and the config they carry."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.plugins.io import TorchCheckpointIO

from napari_mrisr.atomic import atomic_path
from napari_mrisr.zoo.metadata import ModelError

from .config import TrainConfig, validate_config

__all__ = ["SafeCheckpointIO", "checkpoint_config", "read_checkpoint"]


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, made safe: atomic writes, and weights-only reads.

    A checkpoint is never half written, and reading one (``--resume``) never unpickles code,
    whatever torch's default for ``weights_only`` is (torch < 2.6, or an environment that
    forces it off).
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        try:
            return super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:  # an UnpicklingError for anything but tensors and plain data
            raise ModelError(
                f"{Path(path).name!r} is not a checkpoint this package wrote: it does not read as "
                "tensors and plain data, and anything else in it is never unpickled."
            ) from exc


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, read weights-only (tensors and plain data; nothing executed)."""
    return SafeCheckpointIO().load_checkpoint(path)


def checkpoint_config(state: dict, path: Path) -> TrainConfig:
    """The training config a checkpoint holds, validated (ModelError if it holds none)."""
    try:
        return validate_config(state["hyper_parameters"]["config"], path.name)
    except (KeyError, TypeError) as exc:
        raise ModelError(
            f"{path.name!r} has no training config; was it written by `python -m napari_mrisr.training fit`?"
        ) from exc
