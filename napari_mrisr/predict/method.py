"""What to super-resolve with (a model file or the cubic baseline), and running it on a scan.

:func:`iter_run` applies a trained model file or the cubic-interpolation baseline (yielding
progress, returning an :class:`SRResult` that carries the model's name and metadata);
:func:`iter_fitted` runs the tiled engine on a scan turned to the model's axes by the
:class:`~napari_mrisr.zoo.model_fit.Fit` it is given. No Qt here: the widgets run these in a
worker thread, the CLI and cohorts run them to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_mrisr.engine.inference import iter_super_resolve
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.clipping import clip_floor, clip_to_input
from napari_mrisr.volume.geometry import Factors, as_factors
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.zoo.model_fit import Fit, ModelFitError, check_fit

__all__ = [
    "BASELINE",
    "Method",
    "SRResult",
    "baseline_factors",
    "iter_fitted",
    "iter_run",
    "permute_axes",
]

#: Display name of the always-available interpolation baseline.
BASELINE = "cubic interpolation (baseline)"


@dataclass(frozen=True)
class Method:
    """What to super-resolve with: a model file, or the cubic baseline when ``path`` is None."""

    name: str
    path: Path | None = None

    @property
    def is_baseline(self) -> bool:
        return self.path is None


@dataclass
class SRResult:
    """The SR volume and the model that made it: its name and file metadata, with
    ``clipped_below`` (0.0) added when the result's negatives were set to 0
    (:mod:`~napari_mrisr.volume.clipping`)."""

    volume: Volume
    model: str
    model_meta: dict = field(default_factory=dict)


def baseline_factors(metadata: Mapping[str, Any] | None) -> Factors:
    """Upsampling factors for the baseline: those of the recorded degradation, else 2."""
    degradation = (metadata or {}).get("degradation") or {}
    return as_factors(degradation.get("factors", 2))


def iter_run(
    volume: Volume,
    method: Method,
    device: str = "auto",
    tile: int | None = None,
    factors: Factors | None = None,
    fit: Fit | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ProgressGenerator[SRResult]:
    """Super-resolve ``volume``, yielding :class:`Progress` events and returning an :class:`SRResult`.

    Parameters
    ----------
    volume : Volume
        The low-resolution input, in its file's axis order.
    method : Method
        A model file, or the cubic baseline (``path=None``).
    device : {"auto", "cuda", "mps", "cpu"}
        Where the model runs (ignored by the baseline).
    tile : int, optional
        Tile edge in LR voxels; None or 0 picks one for the device.
    factors : 3 ints, optional
        Upsampling factors of the baseline (default 2); with a model, the LR's known
        degradation factors, only used to warn when the model's (oriented) scale differs.
    fit : Fit, optional
        How the model fits ``volume``, as the caller found it
        (:func:`~napari_mrisr.zoo.model_fit.fit_model`); worked out here when not given.
    cancel : callable, optional
        Stops a model's run inside a tile once it returns True
        (:func:`~napari_mrisr.engine.inference.iter_super_resolve`).

    Raises
    ------
    napari_mrisr.zoo.metadata.ModelError
        For a model file that cannot be used.
    napari_mrisr.zoo.ModelFitError
        For a scan the model does not fit (:mod:`napari_mrisr.zoo.model_fit`); the baseline
        always runs.
    """
    if method.is_baseline:
        f = as_factors(factors or 2)
        yield Progress(0, 1)
        result = upsample(volume, f, order="cubic")
        yield Progress(1, 1)
        meta = {"architecture": "cubic B-spline interpolation", "scale": list(f)}
        return SRResult(result, method.name, meta)

    from napari_mrisr.zoo.model_file import load_model

    model = load_model(method.path)
    if fit is None:
        fit = check_fit(volume, model.meta, method.name)
    if factors is not None and tuple(as_factors(factors)) != fit.factors:
        yield Progress(
            0,
            0,
            f"{method.name!r} upsamples by {fit.factors} but {volume.name!r} was degraded by "
            f"{tuple(as_factors(factors))}; the result will not be on the ground truth's grid.",
            warning=True,
        )
    sr = yield from iter_fitted(volume, model, fit, device=device, tile=tile or None, cancel=cancel)
    meta = dict(model.meta)
    if clip_floor(volume) is not None:  # what iter_fitted did to the result
        meta["clipped_below"] = clip_floor(volume)
    return SRResult(sr, method.name, meta)


def iter_fitted(
    volume: Volume,
    model,
    fit: Fit,
    device: str = "auto",
    tile: int | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ProgressGenerator[Volume]:
    """:func:`~napari_mrisr.engine.inference.iter_super_resolve` with the model turned to the
    scan as ``fit`` says (:func:`~napari_mrisr.zoo.model_fit.check_fit`).

    The volume's axes are permuted so the model refines the scan's coarse axes, and the SR
    volume is permuted back: its affine is exactly
    :func:`~napari_mrisr.volume.geometry.upsampled_affine` of the input with
    :attr:`Fit.factors`. Raises :class:`ModelFitError` (before any work) for a fit that
    refuses the scan; first yields the fit's :attr:`~Fit.warning` (a scan coarser than the
    model's training input) as a warning event, where it has one. The result of a scan without
    a negative voxel has its negatives set to 0
    (:func:`~napari_mrisr.volume.clipping.clip_to_input`: ringing, never signal).
    """
    if not fit.ok:
        raise ModelFitError(fit.reason)
    if fit.warning:
        yield Progress(0, 0, fit.warning, warning=True)
    sr = yield from iter_super_resolve(
        permute_axes(volume, fit.order), model, device=device, tile=tile, cancel=cancel
    )
    sr = permute_axes(sr, tuple(int(a) for a in np.argsort(fit.order)))
    return clip_to_input(sr, volume)


def permute_axes(volume: Volume, order: Sequence[int]) -> Volume:
    """The volume with data axis k = the input's axis ``order[k]``: same voxels, same places."""
    order = tuple(order)
    if order == (0, 1, 2):
        return volume
    affine = volume.affine.copy()
    affine[:, :3] = volume.affine[:, list(order)]
    return Volume(volume.data.transpose(order), affine, volume.name, dict(volume.header))
