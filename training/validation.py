"""Validation on whole held-out volumes, the model beside cubic interpolation.

The model runs through :func:`napari_mrisr.engine.inference.super_resolve` (the engine the plugin
uses, tiles and all) and cubic through :func:`napari_mrisr.volume.interpolate.upsample`, so a
validation figure is what a user will see. Its tables are :mod:`napari_mrisr.volume.metrics` tables
(averaged by ``mean_tables``, printed by ``format_markdown``).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from napari_mrisr.atomic import atomic_path
from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.volume import metrics
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.display import CONVENTIONS
from napari_mrisr.volume.geometry import superior_axis
from napari_mrisr.volume.interpolate import upsample

from .data.volumes import ValidationPair

__all__ = ["axial_slice", "evaluate_pair", "save_slices"]


def evaluate_pair(
    model: torch.nn.Module, pair: ValidationPair, device: str | torch.device = "auto", tile: int | None = None
) -> tuple[metrics.Table, dict[str, Volume]]:
    """Metrics of the model and of cubic interpolation on one held-out pair, and their volumes.

    The metrics are a :func:`napari_mrisr.volume.metrics.metric_table` of methods ``model`` and ``cubic``.
    """
    sr = super_resolve(pair.lr, model, device=device, tile=tile)
    cubic = upsample(pair.lr, pair.factors, order="cubic")
    table = metrics.metric_table({"model": sr, "cubic": cubic}, pair.hr, pair.mask)
    return table, {"sr": sr, "cubic": cubic}


def axial_slice(
    data: np.ndarray, affine: np.ndarray, index: int, convention: str = "radiological"
) -> np.ndarray:
    """Axial slice ``index`` (along the superior axis) as an image, rows top to bottom.

    Shown as napari shows it (:data:`napari_mrisr.volume.display.CONVENTIONS`): anterior at the
    top; radiological puts the patient's right on the image's left, neurological on its right.
    Whatever the file's axis order and flips.
    """
    vertical = CONVENTIONS[convention][1]  # where anterior grows on screen
    return _plane(data, affine, index, normal=2, rows=1, rows_up=vertical == "up", convention=convention)


def coronal_slice(
    data: np.ndarray, affine: np.ndarray, index: int, convention: str = "radiological"
) -> np.ndarray:
    """Coronal slice ``index`` (along the anterior axis) as an image: superior at the top, the
    patient's right on the left (radiological) or on the right (neurological)."""
    return _plane(data, affine, index, normal=1, rows=2, rows_up=True, convention=convention)


def _plane(data, affine, index: int, normal: int, rows: int, rows_up: bool, convention: str) -> np.ndarray:
    """Slice ``index`` across RAS axis ``normal``, RAS axis ``rows`` down the image (growing
    upwards if ``rows_up``), R across it as ``convention`` says."""
    orientation = nib.io_orientation(affine)  # per data axis: (RAS axis, +1 if it grows that way)
    axis_of = {int(ras): data_axis for data_axis, (ras, _) in enumerate(orientation)}
    grows = {int(ras): sign for ras, sign in orientation}
    plane = np.take(data, index, axis=axis_of[normal])
    kept = [a for a in range(3) if a != axis_of[normal]]
    plane = plane.transpose(kept.index(axis_of[rows]), kept.index(axis_of[0]))
    if (grows[rows] > 0) == rows_up:  # row 0 is the top: the largest value when it grows up
        plane = plane[::-1]
    if (grows[0] > 0) == (CONVENTIONS[convention][2] == "left"):
        plane = plane[:, ::-1]
    return plane


def save_slices(path: Path, pair: ValidationPair, volumes: dict[str, Volume], count: int) -> Path | None:
    """Save ``count`` axial slices as one PNG: rows of GT | LR (nearest) | cubic | model.

    Titled columns, in the radiological convention (patient's right on the left, anterior up;
    "R" and "L" under each column); small slices are enlarged (nearest) so the titles fit.
    """
    from PIL import Image, ImageDraw

    if count <= 0:
        return None
    affine = pair.hr.affine
    axis = superior_axis(affine)
    nearest = upsample(pair.lr, pair.factors, order="nearest")
    columns = {
        "GT": pair.hr.data,
        "LR (nearest)": nearest.data,
        "cubic": volumes["cubic"].data,
        "model": volumes["sr"].data,
    }
    n = pair.hr.shape[axis]
    picks = np.linspace(n * 0.2, n * 0.8, count).astype(int) if n > count else np.arange(n)
    top = float(np.percentile(pair.hr.data, 99.5)) or 1.0
    h, w = axial_slice(pair.hr.data, affine, 0).shape
    zoom = max(1, -(-_MIN_TILE // w))  # tiles at least _MIN_TILE pixels wide: the titles fit
    h, w = h * zoom, w * zoom
    width, height = len(columns) * (w + _GAP) - _GAP, len(picks) * (h + _GAP) - _GAP + 2 * _STRIP
    canvas = Image.new("L", (width, height), _GAP_GREY)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, _STRIP - 1), fill=0)
    draw.rectangle((0, height - _STRIP, width, height), fill=0)
    for i, (title, data) in enumerate(columns.items()):
        x = i * (w + _GAP)
        for r, k in enumerate(picks):
            tile = np.clip(axial_slice(data, affine, int(k)) / top, 0, 1)
            tile = np.kron((tile * 255).astype(np.uint8), np.ones((zoom, zoom), np.uint8))
            canvas.paste(Image.fromarray(tile), (x, _STRIP + r * (h + _GAP)))
        draw.text((x + (w - draw.textlength(title)) / 2, 2), title, fill=255)  # centred
        draw.text((x + 2, height - _STRIP + 2), "R", fill=255)
        draw.text((x + w - 2 - draw.textlength("L"), height - _STRIP + 2), "L", fill=255)
    with atomic_path(path, suffix=".png") as tmp:  # a crash never leaves half a PNG
        canvas.save(tmp)
    return path


_MIN_TILE = 96  # pixels
_STRIP = 14  # pixels: the title row above, the R/L row below
_GAP, _GAP_GREY = 4, 96  # pixels between tiles, and their grey
