"""Driving the docks as a user would: dock a widget, wait for its work, read world millimetres."""

from __future__ import annotations

import numpy as np
from napari.layers import Layer

from napari_mrisr._napari.layers import layer_data, napari_axis_order
from napari_mrisr.volume.base import Volume

TIMEOUT_MS = 120_000  # generous: a loaded CI machine is slow, and a wait ends when its condition holds


def dock(viewer, widget_class):
    widget = widget_class(viewer)
    viewer.window.add_dock_widget(widget, name=widget_class.__name__)
    return widget


def wait_idle(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)


def world_mm(layer, file_index) -> np.ndarray:
    """RAS mm of a file voxel as napari shows it (napari's world axes are S, A, R)."""
    order = napari_axis_order(layer.metadata["affine"])
    return np.asarray(layer.data_to_world(np.asarray(file_index)[list(order)]))[::-1]


def add_volume(viewer, volume: Volume, **metadata) -> Layer:
    return viewer.add_layer(Layer.create(*layer_data(volume, metadata=metadata)))
