"""The maths of comparing an SR result with its LR input, the cubic baseline and a ground truth.

Everything the Compare widget shows is computed here, with the package's one forward model
(:func:`napari_mrisr.volume.degrade.simulate_lr`), one baseline (:func:`napari_mrisr.volume.interpolate.upsample`)
and one metric implementation and table (:func:`napari_mrisr.volume.metrics.metric_table`). No Qt or
napari: the widget runs :func:`iter_compare` in a worker (it yields
:class:`~napari_mrisr.progress.Progress` events and returns a :class:`Comparison`) and turns the
result into layers and a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume

from . import metrics
from .degrade import apply_along_axis, axis_operator, simulate_lr
from .geometry import Factors, covering_length, fractional_upsampled_affine
from .interpolate import upsample
from .slice_profile import SliceProfile, simulate_slices

__all__ = [
    "Comparison",
    "Map",
    "cubic_baseline",
    "data_consistency",
    "grid_ratios",
    "intensity_limits",
    "iter_compare",
    "match_grid",
    "project_onto_lr",
    "projection_limits",
    "scale_factors",
    "slices_degradation",
    "symmetric_limits",
]

#: Grid tolerance in mm: voxels of two volumes closer than this are the same voxels.
GRID_TOLERANCE_MM = 1e-3


@dataclass
class Map:
    """One derived volume to display: its data and how to colour it.

    ``colormap`` is a sequential colormap name (``"inferno"``) or ``"diverging"`` for a signed
    map whose ``limits`` are centred on zero; the viewer picks the actual diverging colours.
    ``limits_3d``, for a map that a 3D view shows as its maximum along each line of sight, are
    the limits of those maxima (:func:`projection_limits`); ``None`` keeps ``limits``.
    """

    key: str
    volume: Volume
    colormap: str
    limits: tuple[float, float]
    limits_3d: tuple[float, float] | None = None


@dataclass
class Comparison:
    """Everything a comparison shows: the cubic baseline, the maps and the metrics table.

    ``metrics`` is a :func:`napari_mrisr.volume.metrics.metric_table` of the SR and cubic volumes
    (empty without a ground truth); ``region`` names where its masked figures were computed.
    """

    cubic: Volume
    intensity_limits: tuple[float, float]
    maps: list[Map] = field(default_factory=list)
    metrics: metrics.Table = field(default_factory=dict)
    region: str = "foreground"  # metrics.REGIONS[0] (the field above shadows the module here)


def scale_factors(lr_shape: Sequence[int], sr_shape: Sequence[int]) -> Factors:
    """Per-axis integer factors from LR to SR shape; refused unless each is an exact multiple."""
    if len(lr_shape) != 3 or len(sr_shape) != 3 or any(
        s % n or s < n for n, s in zip(lr_shape, sr_shape, strict=True)
    ):
        raise ValueError(
            f"The SR shape {tuple(sr_shape)} is not an integer multiple of the LR shape "
            f"{tuple(lr_shape)}; pick the LR volume the SR was made from."
        )
    return tuple(s // n for n, s in zip(lr_shape, sr_shape, strict=True))  # type: ignore[return-value]


def grid_ratios(lr: Volume, sr: Volume) -> tuple[float, ...]:
    """Per-axis factors from the LR grid to the SR grid: :func:`scale_factors` where the SR
    shape is a whole multiple (a model's output), else the ratio of the spacings along each
    axis whose SR voxels cover the LR's field of view by the grid rule (self-supervised SR of
    slices at a fractional ratio: :func:`~napari_mrisr.volume.geometry.covering_length`).
    Refused in one sentence otherwise; :func:`iter_compare` then checks the affines."""
    try:
        return scale_factors(lr.shape, sr.shape)
    except ValueError:
        ratios = [float(a / b) for a, b in zip(lr.spacing, sr.spacing, strict=True)]
        ratios = tuple(round(r) if abs(r - round(r)) < 1e-6 else r for r in ratios)  # 1.0 is 1
        if len(sr.shape) == 3 and all(
            r >= 1 and covering_length(n, r) == m
            for n, m, r in zip(lr.shape, sr.shape, ratios, strict=True)
        ):
            return ratios
        raise


def cubic_baseline(lr: Volume, factors: Sequence[float]) -> Volume:
    """The cubic B-spline upsampling of ``lr``, on exactly the grid an SR model (integer
    factors) or self-supervised SR (a real ratio along the slices) produces."""
    cubic = upsample(lr, factors, order="cubic")
    cubic.name = "cubic baseline"
    return cubic


def match_grid(volume: Volume, reference: Volume, what: str) -> Volume:
    """``volume`` on ``reference``'s voxel grid, cropped if it extends further; else refused.

    A ground truth is often the uncropped HR scan: the SR grid covers its first ``f*(n//f)``
    voxels, so cropping (never resampling) lines the two up voxel for voxel.
    """
    same_affine = np.allclose(volume.affine, reference.affine, atol=GRID_TOLERANCE_MM)
    bigger = all(n >= m for n, m in zip(volume.shape, reference.shape, strict=True))
    if not same_affine or not bigger:
        raise ValueError(
            f"{what} {volume.name!r} is not on the voxel grid of {reference.name!r}; "
            "metrics need the same voxels in the same place."
        )
    if volume.shape == reference.shape:
        return volume
    crop = tuple(slice(0, n) for n in reference.shape)
    return Volume(volume.data[crop], volume.affine, volume.name)


#: The forward model of a slice acquisition in a ``degradation`` mapping (with ``thickness``
#: in mm and ``profile``): what self-supervised SR assumed (:func:`slices_degradation`).
SLICES = "slices"


def slices_degradation(selfsr: Mapping[str, Any]) -> dict[str, Any]:
    """The ``degradation`` of :func:`data_consistency` for a self-supervised SR result, from
    its grid's metadata (:meth:`~napari_mrisr.selfsr.grid.SelfSRGrid.to_meta`): the slice
    thickness and profile it was trained for, given or estimated."""
    try:
        thickness, profile = float(selfsr["thickness"]), str(SliceProfile(selfsr["profile"]))
    except (KeyError, TypeError, ValueError):  # not our record: contiguous rect slices
        return {"method": SLICES}
    return {"method": SLICES, "thickness": thickness, "profile": profile}


def data_consistency(sr: Volume, lr: Volume, degradation: Mapping[str, Any] | None = None) -> Volume:
    """The SR volume degraded by the LR's forward model, minus the LR: zero where SR explains it.

    Uses the method recorded in ``degradation`` (default ``kspace``), with the factors taken from
    the two grids and no noise, so what is left is what SR added that the LR did not measure.
    A slice acquisition (method :data:`SLICES`, or any grid at a fractional ratio, taken then
    as contiguous rect slices unless ``degradation`` says otherwise) is simulated along the
    axis with the largest factor by :func:`~napari_mrisr.volume.slice_profile.simulate_slices`,
    over the LR slices that the SR grid covers whole.
    """
    degradation = degradation or {}
    factors = grid_ratios(lr, sr)
    method = degradation.get("method", "kspace")
    if method != SLICES and all(float(f).is_integer() for f in factors):
        simulated = simulate_lr(sr, factors, method=method, noise=0.0)
        return Volume(metrics.difference(simulated, lr), lr.affine, f"data consistency ({method})")
    axis = int(np.argmax(factors))
    spacing = float(lr.spacing[axis])
    told = degradation if method == SLICES else {}  # another model's fields say nothing here
    thickness = float(told.get("thickness") or spacing)
    profile = str(told.get("profile") or SliceProfile.RECT)
    simulated = simulate_slices(sr, spacing, thickness, profile, axis=axis)
    covered = tuple(slice(0, simulated.shape[axis]) if a == axis else slice(None) for a in range(3))
    lr = Volume(lr.data[covered], lr.affine, lr.name)
    name = f"data consistency ({profile} slices, {thickness:.3g} mm)"
    return Volume(metrics.difference(simulated, lr), lr.affine, name)


def project_onto_lr(sr: Volume, lr: Volume, method: str = "kspace", weight: float = 1.0) -> Volume:
    """The SR volume moved toward agreeing with the LR under ``method``'s forward model.

    ``weight`` 1 is the orthogonal projection onto the volumes that the forward model takes
    exactly to the LR (the per-axis pseudo-inverse of :func:`~napari_mrisr.volume.degrade.axis_operator`
    corrects only what the LR measured): the nearest such volume, hence never farther from a
    ground truth that the model took to this LR. Noise in the LR goes into the result, and a
    forward model other than the acquisition's moves it away from the truth; less than 1 moves
    part of the way.
    """
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be between 0 and 1, got {weight}.")
    factors = scale_factors(lr.shape, sr.shape)
    correction = lr.data - simulate_lr(sr, factors, method=method).data
    for axis, (n, f) in enumerate(zip(sr.shape, factors, strict=True)):
        if f > 1:  # a separable map's pseudo-inverse: each axis's pseudo-inverse in turn
            correction = apply_along_axis(correction, np.linalg.pinv(axis_operator(n, f, method)), axis)
    data = (sr.data + weight * correction).astype(np.float32)
    return Volume(data, sr.affine, f"{sr.name} projected onto the LR ({method})")


def intensity_limits(volume: Volume) -> tuple[float, float]:
    """Contrast limits shared by every intensity layer: 0 (or the minimum) to the 99.9th percentile.

    A percentile rather than the maximum, so one hot voxel does not darken the whole display.
    """
    low = min(0.0, float(volume.data.min()))
    high = float(np.percentile(volume.data, 99.9))
    return low, high if high > low else low + 1.0


def symmetric_limits(*arrays: np.ndarray, percentile: float = 99.5) -> tuple[float, float]:
    """Limits ``(-m, m)`` centred on zero, ``m`` the percentile of ``|values|`` over all arrays."""
    values = np.concatenate([np.abs(np.asarray(a, dtype=np.float32)).ravel() for a in arrays])
    m = float(np.percentile(values, percentile))
    m = m if m > 0 else float(values.max()) or 1.0
    return -m, m


def projection_limits(*arrays: np.ndarray, percentile: float = 99.0) -> tuple[float, float]:
    """Limits ``(0, m)`` for non-negative maps seen as maximum intensity projections (3D).

    The largest error along a line through 200 voxels is far above the error of a typical
    voxel, so a slice's limits would paint nearly every line of sight at the top of the scale.
    ``m`` is the percentile of the projections' non-zero values, along each axis (the camera
    turns) and over all arrays (so they share one scale).
    """
    values = np.concatenate(
        [np.asarray(a, dtype=np.float32).max(axis=axis).ravel() for a in arrays for axis in range(3)]
    )
    values = values[values > 0]
    m = float(np.percentile(values, percentile)) if values.size else 0.0
    return 0.0, m if m > 0 else 1.0


def iter_compare(
    lr: Volume,
    sr: Volume,
    gt: Volume | None = None,
    degradation: Mapping[str, Any] | None = None,
    sr_label: str = "SR",
    region: Volume | None = None,
) -> ProgressGenerator[Comparison]:
    """Compute a comparison step by step: yields :class:`Progress`, returns a :class:`Comparison`.

    Each event's ``message`` names the step about to run (``done`` of ``total`` steps done).

    Parameters
    ----------
    lr, sr : Volume
        The LR input and the SR result made from it (on ``upsampled_affine(lr.affine, f)``,
        ``f`` whole factors or, from self-supervised SR, a real ratio along the slices).
    gt : Volume, optional
        The ground truth on the SR grid (or a larger grid starting at the same voxel).
        Without it, only the maps that need no ground truth are made and there are no metrics.
    degradation : mapping, optional
        The LR's recorded degradation (``method``; default ``kspace``), or a self-supervised
        SR result's slice profile (:func:`slices_degradation`): the forward model of the
        data-consistency map.
    sr_label : str
        Name of the SR method in the metrics table (the baseline's is ``"cubic"``).
    region : Volume, optional
        Where the masked metrics are computed (voxels > 0, e.g. a brain mask or labels) on
        the SR grid. Default: the ground truth's foreground, flagged when it is a whole head
        (a skull-on scan), where a brain mask would tell a different story.

    Raises
    ------
    ValueError
        If SR is not on the LR's upsampled grid, or GT not on SR's grid.
    """
    factors = grid_ratios(lr, sr)
    expected = fractional_upsampled_affine(lr.affine, factors)
    if not np.allclose(sr.affine, expected, atol=GRID_TOLERANCE_MM):
        raise ValueError(
            f"{sr.name!r} is not on the grid of {lr.name!r} upsampled by {factors}; "
            "pick the LR volume the SR was made from."
        )
    if gt is not None:
        gt = match_grid(gt, sr, "The ground truth")

    # The table is keyed by method: an SR method called "cubic" must not replace the baseline.
    candidates = (sr_label if sr_label != "cubic" else "cubic (SR)", "cubic")
    steps = ["cubic baseline"]
    steps += ["difference maps"] if gt is not None else []
    steps += ["SR - cubic", "data consistency"]
    steps += ["region", *(f"metrics: {name}" for name in candidates)] if gt is not None else []

    def step(name: str) -> Progress:
        return Progress(steps.index(name), len(steps), message=name)

    yield step("cubic baseline")
    cubic = cubic_baseline(lr, factors)
    result = Comparison(cubic=cubic, intensity_limits=intensity_limits(gt if gt is not None else lr))

    if gt is not None:
        yield step("difference maps")
        sr_error = np.abs(metrics.difference(sr, gt))
        cubic_error = np.abs(metrics.difference(cubic, gt))
        _, top = symmetric_limits(sr_error, cubic_error)
        in_3d = projection_limits(sr_error, cubic_error)
        result.maps += [
            Map("sr_error", Volume(sr_error, sr.affine, "|SR - GT|"), "inferno", (0.0, top), in_3d),
            Map("cubic_error", Volume(cubic_error, sr.affine, "|cubic - GT|"), "inferno", (0.0, top), in_3d),
        ]

    yield step("SR - cubic")
    gain = metrics.difference(sr, cubic)
    gain_volume = Volume(gain, sr.affine, "SR - cubic")
    result.maps.append(Map("sr_minus_cubic", gain_volume, "diverging", symmetric_limits(gain)))

    yield step("data consistency")
    consistency = data_consistency(sr, lr, degradation)
    result.maps.append(Map("consistency", consistency, "diverging", symmetric_limits(consistency.data)))

    if gt is not None:
        yield step("region")
        if region is None:
            mask = metrics.foreground_mask(gt)
            result.region = metrics.REGIONS[0]
            if metrics.head_volume_ml(mask, gt.spacing) > metrics.HEAD_ML:
                result.region = "foreground (whole head: skull and scalp included)"
        else:
            mask = match_grid(region, sr, "The metrics region").data > 0
            result.region = region.name
            if not mask.any():
                raise ValueError(f"The metrics region {region.name!r} is empty on the SR grid.")
        for name, volume in zip(candidates, (sr, cubic), strict=True):
            yield step(f"metrics: {name}")
            result.metrics.update(metrics.metric_table({name: volume}, gt, mask))
    return result

