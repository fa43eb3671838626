"""The Self-supervised SR dock's choices without Qt: the scan, its slice geometry, the settings.

:class:`SelfSRState` plans the output grid (:func:`~napari_mrisr.selfsr.grid.plan_grid`) once
per change of the scan or of a geometry setting, and says in one line what the header tells
(slice axis, spacing, ratio) or why the scan cannot be used. The slice profile is estimated
once per scan (no setting of the dock changes it): it takes seconds, so the dock hands it to a
worker thread (:attr:`SelfSRState.estimator`) and the grid waits for it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psygnal import evented

from napari_mrisr.selfsr.grid import (
    AUTO,
    SelfSRGrid,
    estimates_from_scan,
    plan_grid,
    scan_estimate,
)
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import axis_direction
from napari_mrisr.volume.slice_profile import SliceProfile

__all__ = ["SelfSRState", "describe"]

#: What the dock says before a scan is open.
NO_SCAN = "Open an anisotropic scan (File > Open) to super-resolve its slice axis."
#: What it says while the slice profile is estimated.
ESTIMATING = "Estimating the slice profile from the scan (a few seconds)..."

#: ``estimator(volume, done)`` estimates the slice profile of ``volume`` and later calls
#: ``done(estimate)`` with the dict :func:`~napari_mrisr.selfsr.grid.scan_estimate` returns.
Estimator = Callable[[Volume, Callable[[dict], None]], None]


def describe(grid: SelfSRGrid, volume: Volume) -> str:
    """One line a radiologist can check against the scan's protocol, and the estimated slice
    profile when it was estimated."""
    axis = axis_direction(volume.affine, grid.axis)
    gap = f", {grid.thickness:.3g} mm thick" if abs(grid.thickness - grid.lr_spacing) > 1e-6 else ""
    return (
        f"Slices along {axis}: {grid.lr_spacing:.3g} mm apart{gap}, {grid.in_plane_spacing:.3g} mm "
        f"in-plane (ratio {grid.ratio:.3g}); the result has {grid.out_spacing:.3g} mm along {axis}."
    ) + (f"\n{grid.estimate['note']}" if grid.estimate else "")


@evented(equality_operators={"volume": operator.is_, "grid": operator.is_})
@dataclass
class SelfSRState:
    """The scan and the settings of one self-SR run; ``grid`` and ``text`` follow them."""

    volume: Volume | None = None
    thickness: float | None = None  # mm; None = the slice spacing
    spacing: float | None = None  # output mm; None = in-plane
    profile: str = AUTO  # estimated from the scan (selfsr.profile_estimate)
    budget: str = "fast"
    device: str = "auto"
    seed: int = 0
    grid: SelfSRGrid | None = None  # planned from the above; None when the scan cannot be used
    text: str = NO_SCAN  # the scan's slice geometry, or why it cannot be used

    def __post_init__(self) -> None:
        self._estimate: tuple[Volume, dict] | None = None  # (scan, its grid.estimate)
        self._pending: Volume | None = None  # the scan whose estimate is running
        #: Runs the estimate elsewhere (the dock: a worker thread, ``done`` on the GUI thread);
        #: None: here, at once.
        self.estimator: Estimator | None = None
        for name in ("volume", "thickness", "spacing", "profile"):
            getattr(self.events, name).connect(self.plan)

    @property
    def geometry(self) -> dict[str, Any]:
        """The settings that shape the grid, as :func:`plan_grid` takes them."""
        return {"thickness": self.thickness, "spacing": self.spacing, "profile": self.profile}

    @property
    def ready(self) -> bool:
        return self.grid is not None

    def run_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~napari_mrisr.selfsr.run.iter_selfsr` (besides the scan)."""
        return {**self.geometry, "budget": self.budget, "device": self.device, "seed": self.seed}

    def plan(self, *_args) -> None:
        """Plan the grid for the scan and settings (or say why the scan cannot be used); while
        the slice profile is estimated, no grid."""
        if self.volume is None:
            grid, text = None, NO_SCAN
        else:
            try:
                grid = self._plan_grid()
                text = describe(grid, self.volume)
            except _Estimating as waiting:
                grid, text = None, f"{describe(waiting.grid, self.volume)}\n{ESTIMATING}"
            except ValueError as exc:
                grid, text = None, str(exc)
        self.grid, self.text = grid, text

    def _plan_grid(self) -> SelfSRGrid:
        """:func:`plan_grid` of the settings, with the scan's slice profile estimated only once."""
        if self._estimate and self._estimate[0] is not self.volume:
            self._estimate = None  # another scan: keep no reference to the last one
        known = self._estimate[1] if self._estimate else None
        if known is None and estimates_from_scan(self.volume, self.thickness, self.profile):
            if self.estimator is None:
                known = scan_estimate(self.volume)
                self._estimate = (self.volume, known)
            else:
                # the header's geometry (and a refusal of the scan) at once, the profile later
                contiguous = plan_grid(self.volume, spacing=self.spacing, profile=SliceProfile.RECT)
                self._start_estimate()
                raise _Estimating(contiguous)
        return plan_grid(self.volume, **self.geometry, estimate=known)

    def _start_estimate(self) -> None:
        volume = self.volume
        if self._pending is volume:
            return
        self._pending = volume
        self.estimator(volume, lambda estimate: self._estimated(volume, estimate))

    def _estimated(self, volume: Volume, estimate: dict) -> None:
        """An estimate came back: kept, and the grid planned, if the scan is still the one open."""
        if self._pending is volume:
            self._pending = None
        if volume is self.volume:
            self._estimate = (volume, estimate)
            self.plan()


class _Estimating(Exception):  # noqa: N818 (a state, not an error)
    """Raised by :meth:`SelfSRState._plan_grid` while the estimate runs; ``grid`` is the scan's
    geometry with contiguous slices, for the one line shown meanwhile."""

    def __init__(self, grid: SelfSRGrid) -> None:
        super().__init__("estimating")
        self.grid = grid
