"""napari writer: an image layer to NIfTI (or MGZ) with its world geometry."""

from __future__ import annotations

from typing import Any

from napari_mrisr.volume.io import save_volume

from .layers import volume_from_layer


def write_image(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one 3D image layer, its affine placing every voxel where napari shows it."""
    return [str(save_volume(volume_from_layer(data, attributes), path))]
