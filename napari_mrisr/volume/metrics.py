"""Image-quality metrics for 3D volumes, whole-volume or inside a mask.

One implementation for the GUI, the CLI, training validation and the benchmarks. Without a
mask, values equal scikit-image's ``peak_signal_noise_ratio``, ``structural_similarity`` and
``normalized_root_mse`` given the same ``data_range``. When ``data_range`` is None it is the
reference's intensity range (max - min), not scikit-image's dtype-based default.

Tables of metrics have one shape everywhere (Compare, training validation, model files'
metadata, training events, benchmarks): ``{method: {"psnr_brain", "ssim_brain", "nrmse_brain",
"psnr", "ssim", "nrmse"}}``, made by :func:`metric_table`, averaged by :func:`mean_tables` and
written by :func:`format_markdown` and :func:`table_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import scipy.ndimage
import skimage.filters
import skimage.metrics

from napari_mrisr.volume.base import Volume

__all__ = [
    "KEYS",
    "REGIONS",
    "Table",
    "foreground_mask",
    "difference",
    "format_markdown",
    "gradient_similarity",
    "mean_tables",
    "metric_key",
    "metric_table",
    "nrmse",
    "psnr",
    "relative_sharpness",
    "ssim",
    "table_csv",
    "table_rows",
]

ArrayOrVolume = np.ndarray | Volume


def _pair(x: ArrayOrVolume, ref: ArrayOrVolume, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = np.asarray(x.data if isinstance(x, Volume) else x, dtype=np.float64)
    ref = np.asarray(ref.data if isinstance(ref, Volume) else ref, dtype=np.float64)
    if x.shape != ref.shape:
        raise ValueError(f"Cannot compare volumes of shapes {x.shape} and {ref.shape}.")
    if mask is not None:
        mask = np.asarray(mask.data if isinstance(mask, Volume) else mask, dtype=bool)
        if mask.shape != ref.shape:
            raise ValueError(f"Mask shape {mask.shape} does not match volume shape {ref.shape}.")
        if not mask.any():
            raise ValueError("The mask is empty.")
    return x, ref, mask


def _range(ref: np.ndarray, data_range: float | None) -> float:
    value = float(ref.max() - ref.min()) if data_range is None else float(data_range)
    if value <= 0:
        raise ValueError("The data range is zero: the reference is constant; pass data_range.")
    return value


def psnr(x: ArrayOrVolume, ref: ArrayOrVolume, data_range: float | None = None, mask=None) -> float:
    """Peak signal-to-noise ratio in dB of ``x`` against ``ref`` (inside ``mask`` if given)."""
    x, ref, mask = _pair(x, ref, mask)
    err = (x - ref)[mask] if mask is not None else x - ref
    mse = float(np.mean(err**2))
    return float("inf") if mse == 0 else 10 * np.log10(_range(ref, data_range) ** 2 / mse)


def nrmse(x: ArrayOrVolume, ref: ArrayOrVolume, data_range: float | None = None, mask=None) -> float:
    """Root-mean-square error divided by the reference's root-mean-square (Euclidean norm).

    ``data_range`` is accepted for a uniform signature; the Euclidean normalisation
    (scikit-image's default) does not use it.
    """
    x, ref, mask = _pair(x, ref, mask)
    if mask is not None:
        x, ref = x[mask], ref[mask]
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.sqrt(np.mean(ref**2)))


def ssim(x: ArrayOrVolume, ref: ArrayOrVolume, data_range: float | None = None, mask=None) -> float:
    """Mean 3D structural similarity (7-voxel uniform window, scikit-image's defaults).

    With a mask, the mean of the SSIM map over the mask voxels at least 3 voxels from the
    border (where scikit-image's mean is taken too).
    """
    x, ref, mask = _pair(x, ref, mask)
    value, smap = skimage.metrics.structural_similarity(
        ref, x, data_range=_range(ref, data_range), full=True
    )
    if mask is None:
        return float(value)
    inner = np.zeros(ref.shape, dtype=bool)
    inner[(slice(3, -3),) * ref.ndim] = True
    return float(smap[mask & inner].mean())


def gradient_similarity(x: ArrayOrVolume, ref: ArrayOrVolume, data_range: float | None = None, mask=None) -> float:
    """Mean gradient-magnitude similarity (GMSM, Xue et al. 2014), in (0, 1], 1 = identical.

    ``(2 g_x g_r + c) / (g_x^2 + g_r^2 + c)`` with ``g`` the gradient magnitude (central
    differences) and ``c = (0.0026 * data_range)^2``. It rewards edges of the right strength
    and penalises both blur (missing gradients) and invented texture (extra gradients), so it
    separates sharp from smooth reconstructions where PSNR does not.
    """
    x, ref, mask = _pair(x, ref, mask)
    c = (0.0026 * _range(ref, data_range)) ** 2
    gx, gr = _gradient_magnitude(x), _gradient_magnitude(ref)
    gms = (2 * gx * gr + c) / (gx**2 + gr**2 + c)
    return float(gms[mask].mean() if mask is not None else gms.mean())


def relative_sharpness(x: ArrayOrVolume, ref: ArrayOrVolume, mask=None, axis: int | None = None) -> float:
    """Mean gradient magnitude of ``x`` over that of ``ref``: 1 = as much edge and texture as
    the reference, below 1 smoother, above 1 more. With ``axis``, only the derivative along
    that data axis (e.g. through thick slices).

    Unlike GMSM it does not ask where the edges are, so it shows how sharp a GAN's output
    looks even where its detail is not the reference's.
    """
    x, ref, mask = _pair(x, ref, mask)
    if axis is None:
        gx, gr = _gradient_magnitude(x), _gradient_magnitude(ref)
    else:
        gx, gr = (np.abs(np.gradient(v, axis=axis)) for v in (x, ref))
    if mask is not None:
        gx, gr = gx[mask], gr[mask]
    return float(gx.mean() / gr.mean())


def _gradient_magnitude(x: np.ndarray) -> np.ndarray:
    return np.sqrt(sum(g**2 for g in np.gradient(x)))  # central differences


def difference(x: ArrayOrVolume, ref: ArrayOrVolume) -> np.ndarray:
    """Signed voxel-wise difference ``x - ref`` as float32 (its absolute value is the error map)."""
    x, ref, _ = _pair(x, ref, None)
    return (x - ref).astype(np.float32)


def foreground_mask(volume: ArrayOrVolume) -> np.ndarray:
    """A simple foreground mask: above half the Otsu threshold, largest component, holes filled.

    Half the Otsu level keeps dark CSF at the brain surface inside the mask; an opening
    removes isolated bright voxels of background noise.
    """
    data = np.asarray(volume.data if isinstance(volume, Volume) else volume, dtype=np.float32)
    if data.max() == data.min():
        return np.zeros(data.shape, dtype=bool)
    mask = scipy.ndimage.binary_opening(data > skimage.filters.threshold_otsu(data) / 2)
    labels, count = scipy.ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == sizes.argmax()
    return scipy.ndimage.binary_fill_holes(mask)


# -- tables ---------------------------------------------------------------------------------------
#: A metrics table: ``{method: {key: value}}`` with the keys of :data:`KEYS` (and any extras).
Table = dict[str, dict[str, float]]

#: Where a table's metrics are computed, as users read it: inside a mask (by default the
#: foreground of the ground truth), then everywhere. The mask's keys end in "_brain" (the
#: scheme model files and training events store), whatever the mask is.
REGIONS = ("foreground", "whole volume")
_SUFFIXES = {"foreground": "_brain", "whole volume": ""}
_METRICS = {"psnr": psnr, "ssim": ssim, "nrmse": nrmse}
_HEADERS = {"_brain": "brain", "": "whole"}

#: One method's keys, in order (the scheme model files and training events store).
KEYS = tuple(f"{name}{_SUFFIXES[region]}" for region in REGIONS for name in _METRICS)


def metric_key(metric: str, region: str) -> str:
    """The table key of ``metric`` ("psnr", "ssim", "nrmse") in ``region`` (of :data:`REGIONS`)."""
    return f"{metric}{_SUFFIXES[region]}"


def metric_table(candidates: Mapping[str, ArrayOrVolume], gt: ArrayOrVolume, mask=None) -> Table:
    """PSNR, SSIM and NRMSE of each candidate against ``gt``, in a mask and everywhere.

    ``mask`` is the region of interest (default :func:`foreground_mask` of ``gt``). The data range is the
    ground truth's, the same for every candidate. Returns ``{name: {key: value}}`` with the
    keys of :data:`KEYS`, in that order.
    """
    mask = foreground_mask(gt) if mask is None else mask
    regions = {"foreground": mask, "whole volume": None}
    return {
        name: {
            metric_key(metric, region): float(fn(volume, gt, mask=regions[region]))
            for region in REGIONS
            for metric, fn in _METRICS.items()
        }
        for name, volume in candidates.items()
    }


def mean_tables(tables: Sequence[Mapping[str, Mapping[str, float]]]) -> Table:
    """The mean of tables of the same methods and keys (e.g. one per validation volume)."""
    if not tables:
        raise ValueError("There are no metrics to average: no volume was scored.")
    return {
        method: {key: float(np.mean([t[method][key] for t in tables])) for key in values}
        for method, values in tables[0].items()
    }


def table_rows(
    table: Mapping[str, Mapping[str, float]], masked: str = REGIONS[0]
) -> Iterator[tuple[str, str, float, float, float]]:
    """``(method, region, psnr, ssim, nrmse)`` rows: each method in the mask, then everywhere.

    ``masked`` names the mask's region in the rows (e.g. a brain-mask layer's name).
    """
    for region in REGIONS:
        for method, values in table.items():
            label = masked if region == REGIONS[0] else region
            yield (method, label, *(values[metric_key(m, region)] for m in _METRICS))


def head_volume_ml(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """The volume of a mask in millilitres (spacing in mm)."""
    return float(mask.sum() * np.prod(spacing) / 1000.0)


#: A foreground above this (mL) is a head, not a brain: an adult brain with its CSF is about
#: 1.2-1.9 L, a head with skull and scalp 3.5-5 L.
HEAD_ML = 2500.0


def _header(key: str) -> str:
    name, suffix = (key.removesuffix("_brain"), "_brain") if key.endswith("_brain") else (key, "")
    return f"{name.upper()} {_HEADERS[suffix]}"


def format_markdown(
    table: Mapping[str, Mapping[str, float]],
    text_columns: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """A Markdown table: one row per method, PSNR/SSIM/NRMSE in the brain mask and whole volume.

    Keys beyond :data:`KEYS` (e.g. ``gmsm_brain``) become further columns. ``text_columns``
    adds text columns after the method's: ``{header: {method: text}}``.
    """
    text_columns = text_columns or {}
    first = next(iter(table.values()), {})
    keys = [k for k in KEYS if k in first] + [k for k in first if k not in KEYS]
    headers = ["method", *text_columns, *map(_header, keys)]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(["---"] * (1 + len(text_columns)) + ["---:"] * len(keys)) + " |",
    ]
    for method, values in table.items():
        texts = [column.get(method, "") for column in text_columns.values()]
        numbers = [f"{values[k]:.2f}" if k.startswith("psnr") else f"{values[k]:.4f}" for k in keys]
        lines.append("| " + " | ".join([method, *texts, *numbers]) + " |")
    return "\n".join(lines)


def table_csv(table: Mapping[str, Mapping[str, float]], masked: str = REGIONS[0]) -> str:
    """The table as CSV text: one row per method and region, full precision.

    Columns ``method, region, psnr_db, ssim, nrmse``; rows as :func:`table_rows` orders them.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", "region", "psnr_db", "ssim", "nrmse"])
    for method, region, *values in table_rows(table, masked):
        writer.writerow([method, region, *map(repr, values)])
    return out.getvalue()
