"""Where the Compare grid zooms on detail: the part of the slice on screen with the most edges.

A whole head in a grid cell of napari's default window is a thumbnail: there, LR, cubic and SR
look alike. Zoomed so that a voxel of the finest image takes a few screen pixels, on the box of
the slice where the reference (the ground truth, else the SR) has the most edges (cortical
folds, ventricle walls, deep nuclei), what SR adds over an interpolation is visible. The edge
of the head (or of a skull-stripped brain) against the background is not detail: the edges are
counted inside the foreground, eroded. The images are then windowed to the detail's
intensities (the same window for all), as a radiologist sets window and level on a region of
interest: the whole head's range leaves the brain's grey and white matter a few grey levels
apart. Numpy on one 2D slice of a layer: no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from napari_mrisr.volume.metrics import foreground_mask

__all__ = ["DetailView", "DetailZoom", "detail_view", "detail_zoom", "most_detailed_box"]

PX_PER_VOXEL = 4.0  # screen pixels per voxel of the finest image, zoomed on detail
MIN_VOXELS = 32  # the box is never narrower than this (voxels): some anatomy around the detail
INSIDE = 0.9  # the share of the box that must be foreground (the head, not the air around it)
EDGE_SIGMA = 1.0  # voxels: the gradient's Gaussian, below the scale of the folds
ERODE = 3  # voxels taken off the foreground before counting edges
WINDOW = (0.5, 99.5)  # percentiles of the detail's intensities: the images' window there


def detail_zoom(free_hw_px: tuple[float, float], voxel_mm: float, fit_zoom: float) -> float:
    """Screen pixels per mm zoomed on detail: :data:`PX_PER_VOXEL` per voxel, never so close
    that the box is under :data:`MIN_VOXELS` voxels, never farther than ``fit_zoom`` (the
    whole slice)."""
    zoom = min(PX_PER_VOXEL / voxel_mm, min(free_hw_px) / (MIN_VOXELS * voxel_mm))
    return max(zoom, fit_zoom)


def most_detailed_box(image: np.ndarray, box: tuple[int, int]) -> tuple[float, float]:
    """The centre (row, column; pixel coordinates) of the ``box``-sized window of the 2D
    ``image`` with the strongest edges inside its foreground.

    Windows lie inside the image (a box larger than the image is centred on that axis) and are
    at least :data:`INSIDE` foreground, if any is; the score is the mean gradient magnitude
    over the eroded foreground.
    """
    image = np.asarray(image, dtype=np.float32)
    box = tuple(int(max(1, min(b, n))) for b, n in zip(box, image.shape, strict=True))
    if image.max() == image.min():
        return tuple((n - 1) / 2 for n in image.shape)
    mask = foreground_mask(image)
    inner = scipy.ndimage.binary_erosion(mask, iterations=ERODE)
    edges = scipy.ndimage.gaussian_gradient_magnitude(image, EDGE_SIGMA) * inner
    score = scipy.ndimage.uniform_filter(edges, box, mode="constant")
    inside = scipy.ndimage.uniform_filter(mask.astype(np.float32), box, mode="constant")
    # uniform_filter's window at index i covers i - b//2 .. i - b//2 + b - 1: keep it in the image
    valid = np.zeros(image.shape, dtype=bool)
    lows = [b // 2 for b in box]
    highs = [n - b + b // 2 + 1 for b, n in zip(box, image.shape, strict=True)]
    valid[lows[0] : highs[0], lows[1] : highs[1]] = True
    candidates = valid & (inside >= INSIDE - 1e-6)
    if not candidates.any():
        candidates = valid
    row, col = np.unravel_index(np.argmax(np.where(candidates, score, -np.inf)), image.shape)
    return tuple(float(i - b // 2 + (b - 1) / 2) for i, b in zip((row, col), box, strict=True))


@dataclass(frozen=True)
class DetailView:
    """Where the grid looks zoomed on detail, and the images' window there."""

    centre: tuple[float, float]  # mm, on the displayed world axes
    zoom: float  # screen pixels per mm
    box_mm: tuple[float, float]  # the part of the slice a cell shows (height, width)
    limits: tuple[float, float]  # contrast limits: the detail's intensities, percentiles


def detail_view(layer, point, displayed, free_hw_px, fit_zoom: float) -> DetailView | None:
    """Where to look at ``layer``'s most detailed part of the slice through ``point`` (world).

    ``displayed`` are the two world axes on screen (vertical, horizontal), ``free_hw_px`` the
    pixels of a grid cell the image may fill, ``fit_zoom`` the zoom that fits the whole slice.
    None where zooming would show no more than the whole slice. A napari layer's data axes are
    its world axes: the slice is the data plane nearest to ``point``.
    """
    step = np.abs(np.asarray(layer.extent.step, dtype=float))[list(displayed)]
    zoom = detail_zoom(free_hw_px, float(step.min()), fit_zoom)
    if zoom <= fit_zoom * 1.05:
        return None
    data = np.asarray(layer.data)
    (sliced,) = (a for a in range(data.ndim) if a not in displayed)
    index = round(float(layer.world_to_data(point)[sliced]))
    index = int(np.clip(index, 0, data.shape[sliced] - 1))
    plane = np.take(data, index, axis=sliced)
    if displayed[0] > displayed[1]:
        plane = plane.T
    box = tuple(
        int(min(n, round(f / zoom / s)))
        for f, s, n in zip(free_hw_px, step, plane.shape, strict=True)
    )
    row, col = most_detailed_box(plane, box)
    voxel = np.zeros(data.ndim)
    voxel[sliced], voxel[displayed[0]], voxel[displayed[1]] = index, row, col
    centre = np.asarray(layer.data_to_world(voxel), dtype=float)[list(displayed)]
    lows = [int(round(c - (b - 1) / 2)) for c, b in zip((row, col), box, strict=True)]
    inside = plane[lows[0] : lows[0] + box[0], lows[1] : lows[1] + box[1]]
    low, high = (float(v) for v in np.percentile(inside, WINDOW))
    limits = (low, high) if high > low else None
    return DetailView(tuple(centre), zoom, (free_hw_px[0] / zoom, free_hw_px[1] / zoom), limits)


class DetailZoom:
    """The Compare grid's "zoom on detail": where it looks, and the images' window there (the
    same for all of them), given back when the grid shows the whole slice again."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.on = False
        self.source = None  # the layer whose edges say where the detail is
        self.view: DetailView | None = None  # the last one located (None: the whole slice)
        self._limits: dict = {}  # the images' own contrast limits, while windowed

    def reset(self, source) -> None:
        """A new comparison: its images have their own limits now."""
        self.source, self.view, self._limits = source, None, {}

    def locate(self, plan, displayed) -> DetailView | None:
        """The view on the detail for the grid ``plan`` (a :class:`.CellLayout`), or None."""
        viewer, self.view = self.viewer, None
        if not self.on or self.source not in viewer.layers or viewer.dims.ndisplay != 2:
            return None
        bands = plan.bands
        free = (
            plan.cell_hw[0] - bands["top"] - bands["bottom"],
            plan.cell_hw[1] - bands["left"] - bands["right"],
        )
        self.view = detail_view(self.source, viewer.dims.point, displayed, free, plan.zoom)
        return self.view

    def window(self, images) -> None:
        """Window ``images`` to the detail located last, or give them back their limits."""
        if self.view is not None and self.view.limits is not None:
            for layer in images:
                self._limits.setdefault(layer, tuple(layer.contrast_limits))
                layer.contrast_limits = self.view.limits
            return
        for layer, limits in self._limits.items():
            if layer in self.viewer.layers:
                layer.contrast_limits = limits
        self._limits = {}
