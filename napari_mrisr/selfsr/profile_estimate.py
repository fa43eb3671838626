"""Estimate a scan's through-plane slice profile (shape and FWHM) from the scan alone.

The principle is ESPRESO's (Han et al., ISBI 2021): in-plane image content, blurred along an
in-plane axis by the right slice profile and sampled at the slice spacing, looks like the
through-plane content. This module implements it without a GAN (and without ESPRESO's code):

* a candidate profile ``g`` (:func:`~napari_mrisr.volume.slice_profile.profile_matrix`, the
  trainer's forward model) blurs and samples the scan along one in-plane axis ``p``, making a
  volume sampled at the slice spacing along both ``p`` and the slice axis ``t``; it is sampled
  at several phases (whole-voxel offsets across one spacing), each on its own share of the
  lines, because a head's content aliases differently at each and one phase alone made the
  estimate jump with where the field of view starts;
* for ``g`` equal to the true profile ``h`` that volume is the object blurred by ``h`` along
  both ``t`` and ``p``: symmetric, so its lines along ``t`` and along ``p`` have the same power
  spectrum (for an object whose statistics are isotropic, as a brain's roughly are). Comparing
  the two lines of the *same* volume, rather than in-plane lines with the scan's through-plane
  lines, cancels the slab averaging that the thick slices already put into the in-plane content
  (which would make ``g`` too thin) and the noise, which both directions then carry alike;
* the mismatch is the variance, over frequency, of the log ratio of the two mean power spectra
  (windows of about :data:`WINDOW_MM` inside the eroded foreground, first-differenced,
  Hann-tapered), pooled over both in-plane axes: their shapes are compared, not their levels,
  because a head's content has more power along some directions than others at every
  frequency (``benchmarks/profile_estimate.py`` prints it), which a profile cannot cause. It is
  minimised over the FWHM for each shape family; the family with the smaller mismatch wins.

Shape is weakly identifiable: a rect of width ``w`` and a Gaussian of FWHM near ``0.7 w`` give
nearly the same sampled data, so the trainer's pairs differ little between them either;
:attr:`ProfileEstimate.shape_margin` says how clearly one family won. Deterministic (no
randomness); a few seconds on a laptop CPU for a 256 x 256 x 40 scan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.ndimage
import scipy.optimize
import threadpoolctl

from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.metrics import foreground_mask
from napari_mrisr.volume.slice_profile import SliceProfile, profile_matrix

__all__ = ["ProfileEstimate", "between", "estimate_profile", "SHAPE_MARGIN"]

#: Length of the windows whose spectra are taken (mm; windows overlap by half). Longer ones fit
#: only in the brain's centre, whose content misleads the estimate towards thin slices; shorter
#: ones leave too few frequencies (docs/benchmarks.md, "The slice profile estimated from the
#: scan", has the comparison).
WINDOW_MM = 30.0
#: Samples per window at the least: three frequencies besides the zero one after the
#: difference (with two, one width can match their ratio exactly, and the families tie at 0).
MIN_WINDOW = 7
#: FWHMs searched, in slice spacings: from a large gap to strongly overlapping slices.
FWHM_RANGE = (0.25, 2.5)
#: Points of the coarse search per family (log-spaced, 8 % apart), refined by a bounded 1D
#: minimisation.
COARSE = 31
#: In-plane lines used per in-plane axis at most (a regular stride beyond; keeps it fast).
MAX_LINES = 15000
#: Windows stay this many slice spacings inside the object's outer edge (a Gaussian profile's
#: tails reach about twice its FWHM; the edge is the strongest contrast in a scan).
EDGE = 2.0
#: FWHMs whose mismatch is within this factor of the best one's make the reported range
#: (:attr:`ProfileEstimate.fwhm_range`): at the true profile of simulated scans the mismatch
#: stays within it of the minimum (``benchmarks/profile_estimate.py`` prints both).
RANGE_FACTOR = 2.0
#: The other family's mismatch must exceed the winner's by this share for the shape to count
#: as told apart (:attr:`ProfileEstimate.shape_clear`): below it, both fit within the scatter
#: that ``benchmarks/profile_estimate.py`` shows between anatomy's directions.
SHAPE_MARGIN = 0.25


@dataclass(frozen=True)
class ProfileEstimate:
    """A through-plane slice profile estimated from the scan (lengths in mm).

    Attributes
    ----------
    profile : str
        The shape family that fits best, a
        :class:`~napari_mrisr.volume.slice_profile.SliceProfile`.
    fwhm : float
        Its FWHM (the rect's width): the slice thickness as
        :func:`~napari_mrisr.selfsr.grid.plan_grid` takes it.
    spacing : float
        The slice spacing (centre to centre), from the header.
    axis : int
        The slice axis.
    residual : float
        The best fit's mismatch (the variance of the log ratio of the two spectra over
        frequency; 0 = the same shape).
    other_fwhm, other_residual : float
        The best FWHM and mismatch of the other family.
    fwhm_low, fwhm_high : float
        The FWHMs of this family that fit within :data:`RANGE_FACTOR` of the best: how
        sharply the scan determines the width (wide with a large gap, where aliasing dominates).
    """

    profile: str
    fwhm: float
    spacing: float
    axis: int
    residual: float
    other_fwhm: float
    other_residual: float
    fwhm_low: float
    fwhm_high: float

    @property
    def gap(self) -> float:
        """The gap between slices (spacing - FWHM), 0 when they touch or overlap."""
        return max(0.0, self.spacing - self.fwhm)

    @property
    def other_profile(self) -> str:
        """The family that fits second best."""
        other = SliceProfile.GAUSSIAN if self.profile == SliceProfile.RECT else SliceProfile.RECT
        return str(other)

    @property
    def shape_margin(self) -> float:
        """How much worse the other family fits: its mismatch over the winner's, minus 1."""
        return self.other_residual / max(self.residual, 1e-12) - 1.0

    @property
    def at_search_edge(self) -> bool:
        """Whether the FWHMs that fit about as well as the best (:attr:`fwhm_low` to
        :attr:`fwhm_high`) reach (within 2 %) the thinnest or widest one searched
        (:data:`FWHM_RANGE`): the scan does not determine it. At large slice ratios the
        slices' aliasing can drive the fit to the thinnest profile even for contiguous ones,
        and a reference sharper along the slices than in-plane can leave the mismatch rising
        from the thinnest on, with its shallow minimum just inside."""
        low, high = (bound * self.spacing for bound in FWHM_RANGE)
        return bool(self.fwhm_low <= 1.02 * low or self.fwhm_high >= high / 1.02)

    @property
    def shape_clear(self) -> bool:
        """Whether the shape was told apart (:data:`SHAPE_MARGIN`)."""
        return self.shape_margin >= SHAPE_MARGIN

    def describe(self) -> str:
        """One line, e.g. ``gaussian, FWHM 4.6 mm (spacing 5 mm: a 0.4 mm gap)``."""
        text = (
            f"{self.profile}, FWHM {self.fwhm:.2g} mm "
            f"(spacing {self.spacing:.3g} mm: {between(self.fwhm, self.spacing)})"
        )
        if not self.shape_clear:
            text += f"; a {self.other_profile} of FWHM {self.other_fwhm:.2g} mm fits nearly as well"
        return text

    def to_meta(self) -> dict:
        """JSON-ready metadata (rounded), with the derived gap and shape margin."""
        meta = {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}
        return {
            **meta,
            "gap": round(self.gap, 6),
            "shape_margin": round(self.shape_margin, 4),
            "at_search_edge": self.at_search_edge,
        }


def between(fwhm: float, spacing: float) -> str:
    """How slices of width ``fwhm`` lie at ``spacing`` (mm): ``a 1 mm gap``, ``contiguous``
    (within 5 %) or ``overlapping by 1 mm``."""
    if fwhm < 0.95 * spacing:
        return f"a {spacing - fwhm:.2g} mm gap"
    if fwhm > 1.05 * spacing:
        return f"overlapping by {fwhm - spacing:.2g} mm"
    return "contiguous"


def estimate_profile(volume: Volume, mask: np.ndarray | None = None) -> ProfileEstimate:
    """Estimate the slice profile of an anisotropic scan from its own content.

    Parameters
    ----------
    volume : Volume
        The anisotropic scan (the slice axis has the largest spacing; ``plan_grid`` refuses
        the scans self-supervised SR cannot use before it asks for an estimate).
    mask : numpy.ndarray, optional
        Where the object is (bool, the scan's shape); default
        :func:`~napari_mrisr.volume.metrics.foreground_mask`. It is eroded by :data:`EDGE` slice
        spacings so that no window sees the object's outer edge.

    Returns
    -------
    ProfileEstimate

    Raises
    ------
    VolumeError
        One sentence for a scan with too few slices of foreground to measure.
    """
    spacing = np.asarray(volume.spacing, dtype=np.float64)
    axis = int(np.argmax(spacing))
    mm = float(spacing[axis])
    fg = foreground_mask(volume) if mask is None else np.asarray(mask, dtype=bool)
    if fg.shape != volume.shape:
        raise VolumeError(f"The mask's shape {fg.shape} is not the scan's {volume.shape}.")
    # Keep windows away from the object's edge in every direction (see EDGE).
    inner = scipy.ndimage.distance_transform_edt(fg, sampling=spacing) > EDGE * mm
    sources = _sources(volume.data, inner, axis, spacing)
    window = max(MIN_WINDOW, round(WINDOW_MM / mm))
    if not any(m.any() for _, phases in sources for _, m in phases):
        raise VolumeError(_too_little(volume, window))

    # One BLAS thread: the products are small, and a second thread waiting for a core that
    # another job holds costs several times the work.
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        fits = {str(family): _fit(sources, family, window) for family in SliceProfile}
    if None in fits.values():
        raise VolumeError(_too_little(volume, window))
    (name, (u, residual, (low, high))), (_, (other, other_residual, _)) = sorted(
        fits.items(), key=lambda item: item[1][1]
    )
    return ProfileEstimate(
        profile=name,
        fwhm=u * mm,
        spacing=mm,
        axis=axis,
        residual=residual,
        other_fwhm=other * mm,
        other_residual=other_residual,
        fwhm_low=low * mm,
        fwhm_high=high * mm,
    )


def _fit(sources: list, family: str, window: int) -> tuple | None:
    """The best FWHM of one family (in slice spacings), its mismatch and the range of FWHMs
    within :data:`RANGE_FACTOR` of it; None when no window could be measured."""
    coarse = np.geomspace(*FWHM_RANGE, COARSE)
    values = np.array([_mismatch(sources, family, u, window) for u in coarse])
    if not np.isfinite(values).any():
        return None
    values = np.where(np.isfinite(values), values, np.inf)
    i = int(np.argmin(values))
    lo, hi = coarse[max(i - 1, 0)], coarse[min(i + 1, COARSE - 1)]
    best = scipy.optimize.minimize_scalar(
        lambda x: _mismatch(sources, family, math.exp(x), window),
        bounds=(math.log(lo), math.log(hi)),
        method="bounded",
        options={"xatol": 1e-3},
    )
    u, value = (math.exp(best.x), best.fun) if best.fun <= values[i] else (coarse[i], values[i])
    near = values <= RANGE_FACTOR * value
    first, last = i, i
    while first > 0 and near[first - 1]:
        first -= 1
    while last < COARSE - 1 and near[last + 1]:
        last += 1
    return u, float(value), (min(coarse[first], u), max(coarse[last], u))


def _too_little(volume: Volume, window: int) -> str:
    return (
        f"{volume.name!r} has too few slices of foreground ({window} in a row are needed) to "
        "estimate its slice profile; give the slice thickness and profile instead."
    )


def _sources(data: np.ndarray, mask: np.ndarray, axis: int, spacing: np.ndarray) -> list:
    """Per in-plane axis: the slice ratio in that axis's voxels and, per sampling phase, a
    disjoint share of the scan's lines along it as ``(lines, T, n)`` with its mask (float32).

    The phases are whole-voxel offsets spread over one slice spacing: sampled at the spacing,
    a head's in-plane content aliases differently at each, so one phase alone makes the estimate
    jump with where the field of view starts. At most :data:`MAX_LINES` lines per in-plane
    axis (a stride), shared among the phases, so the phases cost no more than one.
    """
    data = np.moveaxis(np.asarray(data, dtype=np.float32), axis, 0)  # (T, P, Q)
    mask = np.moveaxis(mask, axis, 0)
    in_plane = [a for a in range(3) if a != axis]
    out = []
    for moved, original in zip((1, 2), in_plane, strict=True):
        lines = np.moveaxis(data, moved, 2).transpose(1, 0, 2)  # (other in-plane, T, n)
        inside = np.moveaxis(mask, moved, 2).transpose(1, 0, 2)
        stride = max(1, math.ceil(lines.shape[0] * lines.shape[1] / MAX_LINES))
        ratio = float(spacing[axis] / spacing[original])
        offsets = np.unique(np.round(np.linspace(0, ratio, math.ceil(ratio), endpoint=False)))
        step = stride * len(offsets)
        phases = [
            (
                np.ascontiguousarray(lines[i * stride :: step, :, int(k) :]),
                np.ascontiguousarray(inside[i * stride :: step, :, int(k) :], dtype=np.float32),
            )
            for i, k in enumerate(offsets)
        ]
        # a phase shorter than one slice spacing holds no sample (profile_matrix refuses it)
        out.append((ratio, [(a, m) for a, m in phases if len(a) and a.shape[-1] >= ratio]))
    return out


def _mismatch(sources: list, family: str, u: float, window: int) -> float:
    """The mismatch of a candidate profile of FWHM ``u`` slice spacings, in windows of
    ``window`` samples (nan: no windows).

    Windows of all sampling phases are pooled into one spectrum per direction. The log ratio of
    the two spectra is averaged over the in-plane axes before its variance is taken: anatomy
    (and a template's registration) is sharper along one in-plane direction than the other, and
    the slice direction often lies between them, so their excess and deficit cancel. Its mean
    (a level that differs between directions at every frequency) is left out.
    """
    ratios = []
    for ratio, phases in sources:
        if not phases:
            continue
        along_p, along_t = [], []
        for lines, inside in phases:
            n_lines, n_t, n = lines.shape
            weights = profile_matrix(n, ratio, u * ratio, family).astype(np.float32)
            blurred = (lines.reshape(-1, n) @ weights.T).reshape(n_lines, n_t, -1)
            # a sample is inside when its whole profile is (its weights sum to 1)
            covered = (inside.reshape(-1, n) @ weights.T).reshape(n_lines, n_t, -1) > 1 - 1e-4
            n_p = blurred.shape[-1]
            along_p.append(_windows(blurred.reshape(-1, n_p), covered.reshape(-1, n_p), window))
            along_t.append(
                _windows(
                    blurred.transpose(0, 2, 1).reshape(-1, n_t),
                    covered.transpose(0, 2, 1).reshape(-1, n_t),
                    window,
                )
            )
        along_p, along_t = np.concatenate(along_p), np.concatenate(along_t)
        if len(along_p) and len(along_t):
            ratios.append(np.log(_spectrum(along_p) / _spectrum(along_t)))
    if not ratios:
        return math.nan
    return float(np.var(np.mean(ratios, axis=0)))


def _windows(lines: np.ndarray, inside: np.ndarray, window: int) -> np.ndarray:
    """Windows of ``window`` samples (half overlapping) that lie wholly inside the mask."""
    if lines.shape[-1] < window:
        return np.zeros((0, window), dtype=lines.dtype)
    step = window // 2
    view = np.lib.stride_tricks.sliding_window_view(lines, window, axis=-1)[:, ::step]
    ok = np.lib.stride_tricks.sliding_window_view(inside, window, axis=-1)[:, ::step].all(-1)
    return view[ok]


def _spectrum(windows: np.ndarray) -> np.ndarray:
    """Mean power spectrum of first-differenced (whitening the 1/f decay), Hann-tapered windows,
    without the zero frequency."""
    diff = np.diff(windows.astype(np.float64), axis=1)
    diff -= diff.mean(axis=1, keepdims=True)
    taper = np.hanning(diff.shape[1] + 2)[1:-1]
    power = np.abs(np.fft.rfft(diff * taper, axis=1)) ** 2
    return power.mean(axis=0)[1:] + 1e-30
