"""The dims slider steps one acquired slice of the MRI layers, oblique scans included.

Layers keep their exact voxel-to-RAS geometry (every voxel at its world position in mm), so
an oblique scan (slices tilted from axial, e.g. along the AC-PC line) is not aligned with
napari's world axes. napari then shows the acquired slice through the slider's world point,
drawn in the displayed plane without its out-of-plane tilt, which is how a radiologist reads
an oblique stack. But napari's slider counts steps of the layer's voxel size across the tilted
volume's bounding box (45 positions for 24 slices), so some positions repeat a slice, and each
slice warns "Non-orthogonal slicing is being requested".

Here each slider axis gets the range and step that put one slice at each position: napari
picks data index ``d = a * x + b`` on slider axis x (``a``, ``b`` from the layer's
world-to-data transform restricted to that axis), so the step is ``1 / |a|`` mm and the range
runs from the world point of slice 0 to that of the last slice. For a straight scan this is
napari's own range. The warning cannot be avoided without giving up exact RAS coordinates; it
is silenced by message and module only (:func:`quiet_oblique_slicing`).
"""

from __future__ import annotations

import warnings
import weakref
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import napari

__all__ = [
    "fit_slider_to_slices",
    "quiet_oblique_slicing",
    "slice_coordinate",
    "slice_range",
    "world_of_slice",
]

_NON_ORTHOGONAL = "Non-orthogonal slicing is being requested"
_CONNECTED = "_mrisr_slices_connected"


def quiet_oblique_slicing() -> None:
    """Ignore napari's non-orthogonal slicing warning, and only that one.

    napari warns on every slice of a layer whose transform is not aligned with the world axes;
    for MRI that is every oblique scan. What it warns of (the slice is drawn without its tilt)
    is the intended display of an acquired slice, so the warning only floods the console.
    """
    warnings.filterwarnings(
        "ignore",
        message=_NON_ORTHOGONAL,
        category=UserWarning,
        module=r"napari\.layers\.utils\._slice_input",
    )


def slice_coordinate(layer, axis: int, point) -> float:
    """The data coordinate ``d = a * x + b`` at which napari slices ``layer`` on world ``axis``
    at ``point`` (only that axis' own scale and shift count: not the full world-to-data map)."""
    origin = np.asarray(layer.world_to_data(np.zeros(3)), dtype=float)[axis]
    return float((np.asarray(layer.world_to_data(np.eye(3)[axis]), dtype=float)[axis] - origin) * point[axis] + origin)


def world_of_slice(layer, axis: int, coordinate: float) -> float:
    """The world position on ``axis`` at which napari shows data ``coordinate`` of ``layer``."""
    b = slice_coordinate(layer, axis, np.zeros(3))
    return (coordinate - b) / (slice_coordinate(layer, axis, np.eye(3)[axis]) - b)


def slice_range(layer, axis: int) -> tuple[float, float, float] | None:
    """``(start, stop, step)`` in world mm on ``axis`` putting one of ``layer``'s slices per step.

    None when the layer's data axis ``axis`` does not move along that world axis (napari's own
    range is then used).
    """
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    n = data.shape[axis]
    b = slice_coordinate(layer, axis, np.zeros(3))
    a = slice_coordinate(layer, axis, np.eye(3)[axis]) - b
    if abs(a) < 1e-9:
        return None
    first, last = sorted(((0 - b) / a, (n - 1 - b) / a))
    return first, last, 1 / abs(a)


def fit_slider_to_slices(viewer: napari.viewer.Viewer) -> None:
    """Keep ``viewer``'s sliders at one slice per step (re-fitted whenever napari resets them)."""
    if not getattr(viewer.dims, _CONNECTED, False):
        object.__setattr__(viewer.dims, _CONNECTED, True)  # dims is an evented (pydantic) model
        ref = weakref.ref(viewer)  # the viewer owns dims: no cycle through this callback
        viewer.dims.events.range.connect(lambda *_: (v := ref()) is not None and _fit(v))
    _fit(viewer)


_fitting: set[int] = set()


def _fit(viewer: napari.viewer.Viewer) -> None:
    from napari.layers import Image, Labels

    dims = viewer.dims
    layers = list(viewer.layers)
    if id(viewer) in _fitting or not layers or dims.ndim != 3:
        return
    extent = viewer.layers.extent  # napari's own ranges: the fallback for other layers and axes
    ranges = []
    for axis in range(3):
        spans = []
        for layer in layers:
            if layer.ndim < 3 - axis:
                continue  # a 2D layer has no slices on this axis
            array_like = isinstance(layer, Image | Labels) and layer.ndim == 3
            fitted = slice_range(layer, axis) if array_like else None
            spans.append(fitted or (*layer.extent.world[:, axis - 3], layer.extent.step[axis - 3]))
        if not spans:
            ranges.append(tuple(float(v) for v in dims.range[axis]))
            continue
        start = min(s[0] for s in spans)
        step = min(s[2] for s in spans)
        stop = max(s[1] for s in spans)
        if not np.all(np.isfinite([start, stop, step])) or step <= 0:
            start, stop, step = extent.world[0, axis], extent.world[1, axis], extent.step[axis]
        # napari counts int((stop - start) / step) + 1 positions: keep rounding from losing one.
        ranges.append((float(start), float(stop + 1e-6 * step), float(step)))
    if np.allclose(np.asarray(dims.range, dtype=float), ranges, rtol=0, atol=1e-9):
        return
    _fitting.add(id(viewer))
    try:
        point = dims.point
        dims.range = ranges
        # The same place, on a slice centre (not between two slices).
        dims.current_step = tuple(
            int(np.clip(round((p - start) / step), 0, dims.nsteps[i] - 1))
            for i, (p, (start, _, step)) in enumerate(zip(point, ranges, strict=True))
        )
    finally:
        _fitting.discard(id(viewer))
