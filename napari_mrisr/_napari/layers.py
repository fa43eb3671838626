"""Volume <-> napari image layer: the one place that knows napari's world axis order.

napari's world axes here are RAS millimetres listed in reverse, ``(S, A, R)``: the first
axis (the slider in 2D) runs inferior -> superior, so volumes open as axial slices, and every
world coordinate napari shows is a true RAS coordinate in mm.

napari slices a layer assuming its data axis k runs along world axis k, so a layer holds a
transposed view of the volume (data axes ordered closest to S, A, R) and its ``affine`` is the
file's affine composed with that transpose and with the reversal of the world axes. The
file's own affine is kept in ``layer.metadata["affine"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from napari_mrisr.volume.base import Volume, VolumeError

if TYPE_CHECKING:
    from napari.layers import Image

    from napari_mrisr.predict.method import SRResult

__all__ = [
    "AXIS_LABELS",
    "layer_data",
    "layer_volume",
    "napari_axis_order",
    "result_layer_data",
    "volume_from_layer",
]

#: napari world axes: RAS reversed.
AXIS_LABELS = ("S", "A", "R")

# Reverses three coordinates: RAS <-> napari's (S, A, R), and index (i, j, k) <-> (k, j, i).
_REVERSE = np.eye(4)[[2, 1, 0, 3]]


def napari_axis_order(affine: np.ndarray) -> tuple[int, int, int]:
    """The volume's data axes that run closest to napari's world axes S, A and R."""
    ras_axis_of_data = nib.io_orientation(affine)[:, 0].astype(int)
    return tuple(int(np.flatnonzero(ras_axis_of_data == 2 - k)[0]) for k in range(3))


def layer_data(volume: Volume, **kwargs: Any) -> tuple[np.ndarray, dict, str]:
    """A napari image ``LayerDataTuple`` that puts every voxel at its world position.

    An oblique volume (or any volume seen in a plane its voxel axes are not aligned with) is
    shown slice by slice, as acquired; napari's warning about that is silenced (see
    :func:`napari_mrisr._napari.slices.quiet_oblique_slicing`).
    """
    from .slices import quiet_oblique_slicing

    quiet_oblique_slicing()
    order = napari_axis_order(volume.affine)
    transpose = np.eye(4)  # napari data index -> file voxel index
    transpose[:3, :3] = np.eye(3)[:, list(order)]
    header = {"header": dict(volume.header)} if volume.header else {}
    metadata = {"affine": volume.affine.copy(), **header, **kwargs.pop("metadata", {})}
    if "contrast_limits" not in kwargs:  # robust: one hot voxel must not make the scan dim
        low, high = np.percentile(volume.data, [0.5, 99.8])
        kwargs["contrast_limits"] = (float(low), float(high) if high > low else float(low) + 1.0)
    attributes = {
        "name": volume.name,
        "affine": _REVERSE @ volume.affine @ transpose,
        "axis_labels": AXIS_LABELS,
        "units": ("mm", "mm", "mm"),
        "colormap": "gray",
        "metadata": metadata,
        **kwargs,
    }
    return volume.data.transpose(order), attributes, "image"


def volume_from_layer(data: Any, attributes: dict) -> Volume:
    """A :class:`Volume` from an image layer's data and attributes (as napari writers get them).

    The geometry is the layer's full data-to-world transform (scale, translate, rotate, shear
    and affine), so a layer moved in napari is saved where it is shown. The data axes are
    put back in the file's axis order when ``metadata["affine"]`` records it (else reversed to
    the usual (R, A, S)-like order), so a layer read from a file saves with that file's axis
    order and affine.
    """
    from napari.utils.transforms import Affine

    name = attributes.get("name") or "volume"
    if attributes.get("multiscale"):
        data = data[0]
    if attributes.get("rgb"):
        raise VolumeError(f"{name!r} is an RGB image, not an MRI volume.")
    array = np.asarray(data)
    if array.ndim != 3:
        raise VolumeError(f"{name!r} has {array.ndim} dimensions; only 3D volumes can be saved.")
    physical = Affine(
        scale=attributes.get("scale", (1, 1, 1)),
        translate=attributes.get("translate", (0, 0, 0)),
        rotate=attributes.get("rotate"),
        shear=attributes.get("shear"),
        ndim=3,
    ).affine_matrix
    world = attributes.get("affine", np.eye(4))
    world = np.asarray(getattr(world, "affine_matrix", world), dtype=np.float64)  # Affine or array
    volume = Volume(
        data=array.transpose(2, 1, 0), affine=_REVERSE @ world @ physical @ _REVERSE, name=name
    )
    metadata = attributes.get("metadata") or {}
    volume.header = dict(metadata.get("header") or {})  # the source file's codes, kept on save
    file_affine = metadata.get("affine")
    return volume if file_affine is None else _in_file_axis_order(volume, np.asarray(file_affine))


def layer_volume(layer: Image) -> Volume:
    """The layer as a :class:`Volume` in its file's axis order, at its world geometry (mm)."""
    return volume_from_layer(layer.data, layer.as_layer_data_tuple()[1])


def _in_file_axis_order(volume: Volume, file_affine: np.ndarray) -> Volume:
    """Put a layer's volume back in the axis order of the file it came from.

    Per-axis factors (degradation, model scale) are stated in file voxel axes, so a sagittal
    file must come back sagittal, not in napari's display order. The geometry is unchanged:
    the affine's columns are permuted with the data axes.
    """
    order = napari_axis_order(file_affine)  # layer axis k holds file axis order[k]
    volume_axis = [2 - order.index(a) for a in range(3)]  # the volume's axes are reversed layer axes
    to_volume = np.eye(4)
    to_volume[:3, :3] = np.eye(3)[:, volume_axis]  # file voxel index -> volume voxel index
    return Volume(volume.data.transpose(volume_axis), volume.affine @ to_volume, volume.name, volume.header)


def result_layer_data(
    result: SRResult, input_name: str, input_metadata: Mapping[str, Any] | None = None, **kwargs: Any
) -> tuple:
    """The napari ``LayerDataTuple`` of an SR result, named ``"<input> SR <model>"``.

    The input's degradation and ground-truth records are carried over, so the Compare widget
    finds the whole LR / SR / GT family from the SR layer alone.
    """
    source = input_metadata or {}
    metadata = {
        "model": result.model,
        "model_meta": result.model_meta,
        "input": input_name,
        **{key: source[key] for key in ("degradation", "ground_truth") if key in source},
    }
    volume = Volume(
        result.volume.data, result.volume.affine, f"{input_name} SR {result.model}", result.volume.header
    )  # the source's header: its NIfTI codes, or the DICOM series a result goes back beside
    return layer_data(volume, metadata=metadata, **kwargs)
