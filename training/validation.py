"""Validation on whole held-out volumes, the model beside cubic interpolation.

The model runs through :func:`napari_mrisr.inference.super_resolve` (the engine the plugin
uses, tiles and all) and cubic through :func:`napari_mrisr.interpolate.upsample`, so a
validation figure is what a user will see.
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

__all__ = ["METRIC_KEYS", "evaluate_pair", "format_table", "mean_metrics", "save_slices"]

METRIC_KEYS = ("psnr_brain", "ssim_brain", "nrmse_brain", "psnr", "ssim", "nrmse")


def _scores(x: Volume, pair: ValidationPair) -> dict[str, float]:
    out = {}
    for suffix, mask in (("_brain", pair.mask), ("", None)):
        out[f"psnr{suffix}"] = metrics.psnr(x, pair.hr, mask=mask)
        out[f"ssim{suffix}"] = metrics.ssim(x, pair.hr, mask=mask)
        out[f"nrmse{suffix}"] = metrics.nrmse(x, pair.hr, mask=mask)
    return out


def evaluate_pair(
    model: torch.nn.Module, pair: ValidationPair, device: str | torch.device = "auto", tile: int | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, Volume]]:
    """Metrics of the model and of cubic interpolation on one held-out pair, and their volumes."""
    sr = super_resolve(pair.lr, model, device=device, tile=tile)
    cubic = upsample(pair.lr, pair.factors, order="cubic")
    return {"model": _scores(sr, pair), "cubic": _scores(cubic, pair)}, {"sr": sr, "cubic": cubic}


def mean_metrics(results: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Average per-volume results, method by method."""
    return {
        method: {k: float(np.mean([r[method][k] for r in results])) for k in METRIC_KEYS}
        for method in results[0]
    }


def format_table(table: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per method, PSNR/SSIM/NRMSE in the brain mask and whole volume."""
    lines = [
        "| method | PSNR brain | SSIM brain | NRMSE brain | PSNR whole | SSIM whole | NRMSE whole |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method, m in table.items():
        lines.append(
            f"| {method} | {m['psnr_brain']:.2f} | {m['ssim_brain']:.4f} | {m['nrmse_brain']:.4f} "
            f"| {m['psnr']:.2f} | {m['ssim']:.4f} | {m['nrmse']:.4f} |"
        )
    return "\n".join(lines)


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
