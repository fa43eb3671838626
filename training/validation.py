"""Validation on whole held-out volumes, the model beside cubic interpolation.

The model runs through :func:`napari_mrisr.inference.super_resolve` (the engine the plugin
uses, tiles and all) and cubic through :func:`napari_mrisr.interpolate.upsample`, so a
validation figure is what a user will see. Its tables are :mod:`napari_mrisr.metrics` tables
(averaged by ``mean_tables``, printed by ``format_markdown``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from napari_mrisr import metrics
from napari_mrisr.geometry import superior_axis
from napari_mrisr.inference import super_resolve
from napari_mrisr.interpolate import upsample
from napari_mrisr.io import Volume

from .data import ValidationPair

__all__ = ["evaluate_pair", "save_slices"]


def evaluate_pair(
    model: torch.nn.Module, pair: ValidationPair, device: str | torch.device = "auto", tile: int | None = None
) -> tuple[metrics.Table, dict[str, Volume]]:
    """Metrics of the model and of cubic interpolation on one held-out pair, and their volumes.

    The metrics are a :func:`napari_mrisr.metrics.metric_table` of methods ``model`` and ``cubic``.
    """
    sr = super_resolve(pair.lr, model, device=device, tile=tile)
    cubic = upsample(pair.lr, pair.factors, order="cubic")
    table = metrics.metric_table({"model": sr, "cubic": cubic}, pair.hr, pair.mask)
    return table, {"sr": sr, "cubic": cubic}


def save_slices(path: Path, pair: ValidationPair, volumes: dict[str, Volume], count: int) -> Path | None:
    """Save ``count`` axial slices as one PNG: rows of GT | LR (nearest) | cubic | model."""
    import imageio.v3 as iio

    if count <= 0:
        return None
    axis = superior_axis(pair.hr.affine)
    nearest = upsample(pair.lr, pair.factors, order="nearest")
    columns = [pair.hr.data, nearest.data, volumes["cubic"].data, volumes["sr"].data]
    n = pair.hr.shape[axis]
    picks = np.linspace(n * 0.2, n * 0.8, count).astype(int) if n > count else np.arange(n)
    top = float(np.percentile(pair.hr.data, 99.5)) or 1.0
    rows = [
        np.concatenate([np.rot90(np.take(c, k, axis=axis)) for c in columns], axis=1) for k in picks
    ]
    image = np.clip(np.concatenate(rows, axis=0) / top, 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, (image * 255).astype(np.uint8))
    return path
