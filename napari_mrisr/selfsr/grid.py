"""Geometry of self-supervised SR: the through-plane axis, the real slice ratio, the output grid."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.geometry import (
    MIN_ANISOTROPY,
    covering_length,
    fractional_upsampled_affine,
)
from napari_mrisr.volume.slice_profile import SliceProfile

from .profile_estimate import between, estimate_profile

__all__ = [
    "AUTO",
    "SelfSRGrid",
    "estimates_from_scan",
    "plan_grid",
    "resample_matrix",
    "scan_estimate",
    "stated_thickness",
]

#: The profile that :func:`plan_grid` estimates from the scan (the CLI's and the dock's default).
AUTO = "auto"


def _snap(ratio: float) -> float:
    """A ratio within rounding error of an integer is that integer (so ceil does not overshoot)."""
    return float(round(ratio)) if abs(ratio - round(ratio)) < 1e-6 * max(1.0, ratio) else ratio


@dataclass(frozen=True)
class SelfSRGrid:
    """How one anisotropic scan is super-resolved (all lengths in mm).

    Attributes
    ----------
    axis : int
        The through-plane data axis (the largest spacing).
    lr_spacing : float
        Slice spacing along ``axis``.
    in_plane_spacing : float
        The finer in-plane spacing: the resolution the network learns to restore.
    out_spacing : float
        Output spacing along ``axis`` (default ``in_plane_spacing``).
    thickness : float
        Slice thickness (rect width or Gaussian FWHM); below ``lr_spacing`` models a gap.
    profile : str
        Slice profile, a :class:`~napari_mrisr.volume.slice_profile.SliceProfile`.
    n_lr : int
        Slices in the scan.
    estimate : dict or None
        With ``profile="auto"``: the estimate (:meth:`ProfileEstimate.to_meta
        <napari_mrisr.selfsr.profile_estimate.ProfileEstimate.to_meta>`) the thickness and
        profile came from, and ``note``, the line that tells the user; only ``note`` when the
        scan could not be measured. None when the user gave them.
    """

    axis: int
    lr_spacing: float
    in_plane_spacing: float
    out_spacing: float
    thickness: float
    profile: str
    n_lr: int
    estimate: dict[str, Any] | None = field(default=None, compare=False)  # a dict: no hash

    @property
    def ratio(self) -> float:
        """Slice spacing in in-plane voxels: the ratio the network is trained for."""
        return _snap(self.lr_spacing / self.in_plane_spacing)

    @property
    def out_ratio(self) -> float:
        """Slice spacing in output voxels (the real factor of the grid rule)."""
        return _snap(self.lr_spacing / self.out_spacing)

    @property
    def factor(self) -> int:
        """The network's integer upsampling factor, ``ceil(ratio)``."""
        return max(2, math.ceil(self.ratio))

    @property
    def scale(self) -> tuple[int, int, int]:
        """Per-axis factors of the network: ``factor`` along ``axis``, 1 elsewhere."""
        return tuple(self.factor if a == self.axis else 1 for a in range(3))

    @property
    def n_out(self) -> int:
        """Output voxels along ``axis``: those of ``out_spacing`` in the scan's field of view."""
        return covering_length(self.n_lr, self.out_ratio)

    def out_affine(self, affine: np.ndarray) -> np.ndarray:
        """Output affine: voxel ``j`` at slice coordinate ``(j - (r-1)/2) / r`` (``out_ratio``)."""
        ratios = [1.0, 1.0, 1.0]
        ratios[self.axis] = self.out_ratio
        return fractional_upsampled_affine(affine, ratios)

    def to_meta(self) -> dict:
        """The grid as JSON-ready metadata (see :meth:`from_meta`)."""
        return {**asdict(self), "ratio": self.ratio}

    @classmethod
    def from_meta(cls, meta: dict) -> SelfSRGrid:
        """Rebuild from :meth:`to_meta` (extra keys are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in meta.items() if k in names})


def plan_grid(
    volume: Volume,
    spacing: float | None = None,
    thickness: float | None = None,
    profile: str = SliceProfile.RECT,
    estimate: dict[str, Any] | None = None,
) -> SelfSRGrid:
    """Read the through-plane axis and slice ratio from the header.

    Parameters
    ----------
    volume : Volume
        The anisotropic scan.
    spacing : float, optional
        Output spacing (mm) along the through-plane axis; default the in-plane spacing.
    thickness : float, optional
        Slice thickness (mm); default the slice spacing (contiguous slices).
    profile : {"rect", "gaussian", "auto"}
        Slice profile. ``auto`` estimates the shape and the thickness from the scan itself
        (:func:`~napari_mrisr.selfsr.profile_estimate.estimate_profile`) unless ``thickness`` is
        given (then a rect of it) or the scan's records state its slice thickness (a DICOM
        series, or a NIfTI file's BIDS sidecar: :func:`stated_thickness`; then a rect of that;
        ``estimate["source"]`` says which); where the scan has too little foreground to
        measure, a rect as thick as the spacing, and ``estimate["note"]`` says so.
    estimate : dict, optional
        With ``profile="auto"`` where the scan is to be measured (:func:`estimates_from_scan`):
        its :func:`scan_estimate`, made before (the dock makes it in a worker thread), taken
        instead of estimating again.

    Raises
    ------
    VolumeError
        One sentence if the scan is (nearly) isotropic or has two coarse axes.
    ValueError
        For a non-positive spacing or thickness or an unknown profile.
    """
    sizes = np.asarray(volume.spacing, dtype=np.float64)
    axis = int(np.argmax(sizes))
    others = np.delete(sizes, axis)
    fine, coarse = float(others.min()), float(others.max())
    shown = " x ".join(f"{s:.3g}" for s in sizes)
    if sizes[axis] < MIN_ANISOTROPY * fine:
        raise VolumeError(
            f"{volume.name!r} is already (nearly) isotropic ({shown} mm), so there is no "
            "through-plane axis to super-resolve."
        )
    if coarse >= MIN_ANISOTROPY * fine:
        raise VolumeError(
            f"{volume.name!r} has two coarse axes ({shown} mm); self-supervised SR needs "
            "high-resolution in-plane slices."
        )
    if profile == AUTO:
        thickness, profile, estimate = _estimated(volume, thickness, estimate)
    else:
        estimate = None
    try:
        profile = SliceProfile(profile)
    except ValueError:
        raise ValueError(
            f"Unknown slice profile {profile!r}; choose one of {', '.join(SliceProfile)}."
        ) from None
    out = fine if spacing is None else float(spacing)
    thick = float(sizes[axis]) if thickness is None else float(thickness)
    if not (0 < out <= sizes[axis]) or not math.isfinite(out):
        raise ValueError(f"The output spacing must be in (0, {sizes[axis]:.3g}] mm, got {spacing}.")
    if not thick > 0 or not math.isfinite(thick):
        raise ValueError(f"The slice thickness must be > 0 mm, got {thickness}.")
    return SelfSRGrid(
        axis=axis,
        lr_spacing=float(sizes[axis]),
        in_plane_spacing=fine,
        out_spacing=out,
        thickness=thick,
        profile=str(profile),
        n_lr=int(volume.shape[axis]),
        estimate=estimate,
    )


def estimates_from_scan(volume: Volume, thickness: float | None, profile: str) -> bool:
    """Whether :func:`plan_grid` measures the slice profile in the scan for these settings:
    ``auto``, no thickness given and none in the scan's records (:func:`stated_thickness`)."""
    return profile == AUTO and thickness is None and stated_thickness(volume) is None


def _estimated(
    volume: Volume, thickness: float | None, known: dict | None
) -> tuple[float | None, str, dict | None]:
    """Thickness, profile and estimate of ``profile="auto"`` (see :func:`plan_grid`)."""
    if thickness is not None:  # the user knows the thickness: the shape stays the simplest
        return thickness, SliceProfile.RECT, None
    stated = stated_thickness(volume)
    if stated is not None:
        # The scanner's nominal thickness beats an estimate from the scan alone, which anatomy
        # that differs between directions misleads, and the SR needs the thickness within a few
        # per cent (docs/benchmarks.md, "How much the slice profile matters").
        mm, source, where = stated
        spacing = float(np.max(volume.spacing))
        estimate = {
            "source": source,
            "profile": str(SliceProfile.RECT),
            "fwhm": mm,
            "spacing": spacing,
            "gap": round(max(0.0, spacing - mm), 6),
            "note": (
                f"Slice thickness from {where}: {mm:.3g} mm, taken as a rect profile "
                f"(spacing {spacing:.3g} mm: {between(mm, spacing)})."
            ),
        }
        return mm, SliceProfile.RECT, estimate
    estimate = scan_estimate(volume) if known is None else known
    if "fwhm" in estimate:
        return estimate["fwhm"], estimate["profile"], estimate
    return None, SliceProfile.RECT, estimate  # too little to measure: contiguous rect slices


def scan_estimate(volume: Volume) -> dict[str, Any]:
    """The slice profile estimated from the scan, as ``grid.estimate`` holds it (with its
    ``note``); a note alone where the scan has too little foreground to measure. Seconds: the
    Self-supervised SR dock runs it in a worker thread."""
    try:
        found = estimate_profile(volume)
    except VolumeError as exc:
        return {"note": f"{exc} Assuming contiguous rect slices."}
    note = f"Slice profile estimated from the scan: {found.describe()}."
    if found.at_search_edge:  # still the better guess: thin slices taken as contiguous
        note += (  # lose far more than contiguous ones taken as thin (docs/benchmarks.md)
            " It is at or near the thinnest or widest profile tried, so the scan may not "
            "determine it: type the slice thickness if you know it."
        )
    return {**found.to_meta(), "source": "scan", "note": note}


def stated_thickness(volume: Volume) -> tuple[float, str, str] | None:
    """The slice thickness (mm) the scan's own records state, with its source (``"dicom"`` or
    ``"sidecar"``) and where it was read, for the note; None when they state none for the
    scan's slices.

    A DICOM series' SliceThickness (kept by :mod:`napari_mrisr.dicom.reading`) comes first, then
    a NIfTI file's BIDS sidecar (:func:`napari_mrisr.volume.io.load_volume`). Either is taken
    only when its slices lie along the scan's coarse axis, and a sidecar's SpacingBetweenSlices,
    where given, must be the scan's slice spacing (within 5 %): a file that was reoriented or
    resampled after the sidecar was written no longer matches it.
    """
    header = volume.header or {}
    coarse = int(np.argmax(volume.spacing))
    spacing = float(volume.spacing[coarse])
    for source, where in (("dicom", "the DICOM header"), ("sidecar", None)):
        fields = header.get(source) or {}
        try:
            mm, axis = float(fields["thickness_mm"]), int(fields["slice_axis"])
            apart = float(fields.get("spacing_mm") or spacing)
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(mm) and mm > 0 and axis == coarse and abs(apart - spacing) <= 0.05 * spacing:
            return mm, source, where or _sidecar_place(str(fields.get("file", "the sidecar")))
    return None


def _sidecar_place(name: str) -> str:
    """Where a sidecar's thickness came from, for the note: the scan's own, or one above it in
    a BIDS dataset (its path relative to the scan's folder)."""
    if "/" in name or "\\" in name:
        return f"{name} (the BIDS sidecar above the scan)"
    return f"{name} (the scan's sidecar)"


def resample_matrix(n_lr: int, factor: int, ratio: float, n_out: int | None = None) -> np.ndarray:
    """Cubic resampling from the network's ``factor``-fold grid to the grid of a real ``ratio``.

    Both grids follow the grid rule: fine voxel ``u`` of the ``factor``-fold grid sits at slice
    coordinate ``(u - (factor-1)/2) / factor``, output voxel ``t`` at
    ``(t - (ratio-1)/2) / ratio``. Keys' cubic convolution (a = -0.5), half-sample symmetric
    borders. The identity when ``ratio == factor``.

    Returns
    -------
    numpy.ndarray
        ``(n_out, factor * n_lr)`` float64 weights; ``n_out`` defaults to
        :func:`~napari_mrisr.volume.geometry.covering_length`.
    """
    n_in = factor * n_lr
    n_out = covering_length(n_lr, ratio) if n_out is None else n_out
    if ratio == factor and n_out == n_in:
        return np.eye(n_in)
    t = np.arange(n_out, dtype=np.float64)
    u = factor * (t - (ratio - 1) / 2) / ratio + (factor - 1) / 2
    base = np.floor(u).astype(int)
    matrix = np.zeros((n_out, n_in))
    for tap in range(-1, 3):
        index = base + tap
        d = np.abs(u - index)
        w = np.where(d <= 1, 1.5 * d**3 - 2.5 * d**2 + 1, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2)
        w = np.where(d < 2, w, 0.0)
        index = np.where(index < 0, -1 - index, index)
        index = np.clip(np.where(index >= n_in, 2 * n_in - 1 - index, index), 0, n_in - 1)
        np.add.at(matrix, (np.arange(n_out), index), w)
    return matrix
