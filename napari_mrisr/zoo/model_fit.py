"""Whether a model fits a scan: the input geometry a model expects, oriented to the scan.

A model file records the input it was trained for under ``input_geometry``: ``spacing_mm``,
the LR voxel spacing in the model's axes (``None`` when unknown), and ``through_plane_axis``,
the one model axis it refines (``None`` for an isotropic model). Older files get both derived
from their metadata (:meth:`ModelGeometry.from_meta`). :func:`fit_model` orients a model to a
scan and applies the rules below, once per scan and model; the :class:`Fit` it returns is what
:func:`napari_mrisr.predict.method.iter_fitted` runs, so the GUI, ``mrisr predict`` and
cohorts share one rule. The cubic baseline never comes here: it is never refused.

Orientation: the order of the scan's axes whose spacing proportions are closest to the model's
(sum of absolute log ratios; on a tie, the fewest moved axes). A through-plane model's axis
lands on the scan's thick axis (the file axis of largest spacing); an isotropic model runs
unpermuted.

Refusals (one sentence each):

1. Proportions: each axis's spacing over the scan's finest spacing must be within a factor of
   2 of the model's (strictly), so the model sees voxels shaped like those it learned and
   refines the axes that are coarse. An x4 through-plane model (1 : 1 : 4) refuses an
   isotropic scan (it would cut 2 mm voxels into 0.5 mm slices); an x2 isotropic model
   refuses a 1 x 1 x 5 mm scan (it would halve the fine in-plane spacing and leave 2.5 mm
   slices: a through-plane model or self-supervised SR fits that scan); an x4 model accepts
   5 mm or 3 mm slices for its 4 mm ones (1.25, 0.75), not 8 mm or 2 mm ones.
2. Target: where the training spacing is known, along every axis the model refines the scan
   must be coarser than 1.1 x the spacing the model produces: an x2 model trained 2 -> 1 mm
   refuses a 1 mm scan, which it could only push past what it learned.

A warning, not a refusal (:attr:`Fit.warning`): where the training spacing is known and the scan
is over :data:`COARSER` x coarser along some axis (e.g. a 4 x 4 x 5 mm scan for an x2 model
trained at 2 x 2 x 2 mm), the model sees detail blurred more than any it learned from and its
result is less reliable; ``iter_fitted`` yields the sentence as a warning before it runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import MIN_ANISOTROPY, Factors, as_factors, axis_direction
from napari_mrisr.volume.io import find_volumes

__all__ = [
    "COARSER",
    "Fit",
    "ModelFitError",
    "ModelGeometry",
    "check_fit",
    "describe_scan",
    "fit_model",
    "geometry_summary",
    "model_meta",
    "training_hr_spacing",
]

#: Largest factor (exclusive) between a scan's and a model's spacing proportions on any axis.
PROPORTION_TOLERANCE = 2.0
#: A scan within this factor of the model's output spacing along a refined axis is already there.
AT_TARGET = 1.1
#: A scan over this factor coarser than the model's training input along an axis gets a warning
#: (a 1.2 mm in-plane scan for a 1 mm model, or 5 mm slices for 4 mm ones, do not).
COARSER = 1.3


class ModelFitError(ValueError):
    """A model that does not fit a scan; the message says why in one sentence."""


@dataclass(frozen=True)
class ModelGeometry:
    """The input a model was trained for, in the model's axes."""

    factors: Factors
    spacing: tuple[float, float, float] | None = None  # LR spacing in mm; None = not recorded
    through_plane_axis: int | None = None

    @classmethod
    def for_training(
        cls, factors: Sequence[int], hr_spacing: Sequence[float] | None
    ) -> ModelGeometry:
        """A model trained on HR volumes of ``hr_spacing`` (mm) degraded by ``factors``."""
        factors = as_factors(tuple(factors))
        spacing = (
            None
            if hr_spacing is None
            else tuple(float(h * f) for h, f in zip(hr_spacing, factors, strict=True))
        )
        refined = [a for a, f in enumerate(factors) if f > 1]
        return cls(factors, spacing, refined[0] if len(refined) == 1 else None)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ModelGeometry:
        """From a model file's metadata: its ``input_geometry``, else derived.

        Derived: a self-supervised model's scan geometry; else the scale applied to the HR
        spacing of the built-in sample if it was trained on it, otherwise of unknown spacing
        (proportions from the scale: HR training volumes are taken as isotropic).
        """
        factors = as_factors(tuple(meta["scale"]))
        recorded = meta.get("input_geometry")
        if recorded is not None:
            spacing = recorded.get("spacing_mm")
            return cls(
                factors,
                tuple(map(float, spacing)) if spacing else None,
                recorded.get("through_plane_axis"),
            )
        grid = meta.get("selfsr")
        if grid:
            spacing = [float(grid["in_plane_spacing"])] * 3
            spacing[grid["axis"]] = float(grid["lr_spacing"])
            return cls(factors, tuple(spacing), int(grid["axis"]))
        data = ((meta.get("training") or {}).get("config") or {}).get("data") or {}
        return cls.for_training(factors, _sample_spacing() if data.get("paths") == [] else None)

    def to_meta(self) -> dict:
        """The ``input_geometry`` a model file records."""
        spacing = None if self.spacing is None else list(self.spacing)
        return {"spacing_mm": spacing, "through_plane_axis": self.through_plane_axis}

    @property
    def proportions(self) -> np.ndarray:
        """Expected spacing over the finest expected spacing (from the scale if not recorded)."""
        spacing = np.asarray(
            self.spacing if self.spacing is not None else self.factors, dtype=np.float64
        )
        return spacing / spacing.min()

    @property
    def target(self) -> np.ndarray | None:
        """The spacing (mm) the model produces from its training input; None if not recorded."""
        return None if self.spacing is None else np.asarray(self.spacing) / np.asarray(self.factors)

    def expects(self) -> str:
        """The input it expects, e.g. ``"LR 2 x 2 x 2 mm"`` or ``"1 x 1 x 4 mm thick slices"``."""
        if self.spacing is None:
            return f"proportions {_ratio(self.proportions)}"  # spacing not recorded
        if self.through_plane_axis is not None:
            return f"{_mm(self.spacing)} thick slices"
        return f"LR {_mm(self.spacing)}"

    def describe(self) -> str:
        """E.g. ``"x4 through-plane, trained at 1 x 1 x 4 mm"``."""
        f = self.factors
        if self.through_plane_axis is not None:
            kind = f"x{f[self.through_plane_axis]} through-plane"
        elif len(set(f)) == 1:
            kind = f"x{f[0]} isotropic"
        else:
            kind = " ".join(f"x{s}" for s in f)
        return f"{kind}, " + (
            f"trained at {_mm(self.spacing)}" if self.spacing else "training spacing not recorded"
        )


@dataclass(frozen=True)
class Fit:
    """A model oriented to a scan, and whether the scan can benefit from it."""

    order: tuple[int, int, int]  # model axis k reads scan axis order[k]
    factors: Factors  # upsampling per scan axis
    summary: str  # model, scan and result geometry in one line
    reason: str | None = None  # why the scan cannot benefit; None if it fits
    warning: str | None = None  # why a fitting scan's result is less reliable; None if it is not

    @property
    def ok(self) -> bool:
        return self.reason is None


def fit_model(volume: Volume, meta: Mapping[str, Any], name: str | None = None) -> Fit:
    """Orient the model of ``meta`` (a model file's metadata) to ``volume``; see the module doc."""
    geometry = ModelGeometry.from_meta(meta)
    order = _orient(np.asarray(volume.spacing, dtype=np.float64), geometry.proportions)
    factors = tuple(int(geometry.factors[order.index(a)]) for a in range(3))
    summary = geometry_summary(geometry.describe(), volume, factors)
    name = name or meta.get("name") or "the model"
    label = (
        f"{name!r} ({geometry.describe()}) does not fit {volume.name!r} ({describe_scan(volume)})"
    )
    reason = _refusal(volume, geometry, order, label)
    warning = None if reason else _coarser(volume, geometry, order, name)
    return Fit(order, factors, summary, reason, warning)


def model_meta(model) -> dict:
    """A loaded model's file metadata, or its scale alone for a network built in code."""
    return {"scale": list(model.scale), **(getattr(model, "meta", None) or {})}


def check_fit(volume: Volume, meta: Mapping[str, Any], name: str | None = None) -> Fit:
    """:func:`fit_model`, raising :class:`ModelFitError` for a scan the model does not fit."""
    fit = fit_model(volume, meta, name)
    if not fit.ok:
        raise ModelFitError(fit.reason)
    return fit


def geometry_summary(model: str, volume: Volume, factors: Sequence[int]) -> str:
    """``"model: <model>; scan: <describe_scan>; result: <spacing after factors>"``."""
    result = _mm(volume.spacing / np.asarray(factors))
    return f"model: {model}; scan: {describe_scan(volume)}; result: {result}"


def describe_scan(volume: Volume) -> str:
    """E.g. ``"4 x 1 x 1 mm, thick axis: file axis 0 (L-R)"`` or ``"2 x 2 x 2 mm, isotropic"``."""
    spacing = volume.spacing
    if spacing.max() < MIN_ANISOTROPY * spacing.min():
        return f"{_mm(spacing)}, isotropic"
    axis = int(np.argmax(spacing))
    return f"{_mm(spacing)}, thick axis: file axis {axis} ({axis_direction(volume.affine, axis)})"


def training_hr_spacing(paths: Sequence[str]) -> tuple[float, float, float] | None:
    """Median voxel spacing (mm, file axes) of training volumes, from their headers only.

    No paths means the built-in sample. None if a file cannot be read (e.g. an export on
    another machine): the model then records its proportions only.
    """
    if not paths:
        return _sample_spacing()
    try:
        spacings = [_header_spacing(path) for path in find_volumes(paths)]
    except (OSError, ValueError):
        return None
    return tuple(float(s) for s in np.median(spacings, axis=0))


@cache
def _sample_spacing() -> tuple[float, float, float] | None:
    from napari_mrisr.volume.sample import mni152_path

    try:
        return tuple(float(s) for s in _header_spacing(mni152_path()))
    except (OSError, ValueError):
        return None


def _header_spacing(path) -> np.ndarray:
    import nibabel as nib

    try:
        affine = nib.load(path).affine
    except nib.filebasedimages.ImageFileError as exc:
        raise ValueError(str(exc)) from exc
    return np.sqrt((affine[:3, :3] ** 2).sum(axis=0))


def _orient(spacing: np.ndarray, proportions: np.ndarray) -> tuple[int, int, int]:
    """The scan axis order whose proportions are closest to the model's (fewest moves on a tie)."""
    logs = np.log(spacing) - np.log(spacing.min())

    def cost(order: tuple[int, ...]) -> tuple[float, int]:
        mismatch = np.abs(logs[list(order)] - np.log(proportions)).sum()
        return round(float(mismatch), 9), sum(a != k for k, a in enumerate(order))

    return min(itertools.permutations(range(3)), key=cost)


def _refusal(
    volume: Volume, geometry: ModelGeometry, order: tuple[int, ...], label: str
) -> str | None:
    """The first rule the scan breaks (see the module doc), as one sentence, or None."""
    scan = np.asarray(volume.spacing, dtype=np.float64)[list(order)]  # in the model's axes
    ratio = (scan / scan.min()) / geometry.proportions
    if np.any((ratio >= PROPORTION_TOLERANCE) | (ratio <= 1 / PROPORTION_TOLERANCE)):
        expected = np.empty(3)
        expected[list(order)] = geometry.proportions  # in the scan's axes, like its own
        return (
            f"{label}: its voxel proportions {_ratio(volume.spacing)} are "
            f"{PROPORTION_TOLERANCE:g}x or more away from the {_ratio(expected)} the model expects."
        )
    target = geometry.target
    if target is None:
        return None
    at = [k for k in range(3) if geometry.factors[k] > 1 and scan[k] <= AT_TARGET * target[k]]
    if not at:
        return None
    axis = order[at[0]]
    return (
        f"{label}: it is already at or finer than the {target[at[0]]:.3g} mm the model produces "
        f"along file axis {axis} ({axis_direction(volume.affine, axis)})."
    )


def _coarser(
    volume: Volume, geometry: ModelGeometry, order: tuple[int, ...], name: str
) -> str | None:
    """One sentence if the scan is over :data:`COARSER` x coarser than the model's training
    input along some axis (see the module doc), else None."""
    if geometry.spacing is None:
        return None
    trained = np.asarray(geometry.spacing, dtype=np.float64)
    scan = np.asarray(volume.spacing, dtype=np.float64)[list(order)]  # in the model's axes
    if not np.any(scan > COARSER * trained):
        return None
    expected = np.empty(3)
    expected[list(order)] = trained  # in the scan's axes, like its own
    return (
        f"{volume.name!r} ({_mm(volume.spacing)}) is coarser than the {_mm(expected)} scans "
        f"{name!r} was trained on, so its result is less reliable."
    )


def _mm(spacing) -> str:
    return " x ".join(f"{s:.3g}" for s in spacing) + " mm"


def _ratio(spacing) -> str:
    spacing = np.asarray(spacing, dtype=np.float64)
    return " : ".join(f"{s:.3g}" for s in spacing / spacing.min())
