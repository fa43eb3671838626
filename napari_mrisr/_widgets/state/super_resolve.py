"""The Super-resolve dock's choices without Qt: the input scan, the models listed, how each fits.

:class:`SuperResolveState` reads the model files once per refresh and fits each to the scan
once per new scan (:func:`~napari_mrisr.zoo.model_fit.fit_model`); the dock renders its
:attr:`~SuperResolveState.choices`, hint and geometry, and runs the chosen method with the fit
found here. When a new scan does not fit the chosen model, the state switches to the model that
fits by :func:`~napari_mrisr.zoo.model_choice.preferred` (``mrisr predict``'s rule without
``--model``) and says why in its ``note``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psygnal import evented

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.predict.method import BASELINE, Method, baseline_factors
from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo.folders import list_models
from napari_mrisr.zoo.metadata import read_metadata
from napari_mrisr.zoo.model_choice import preferred, runs_full_models
from napari_mrisr.zoo.model_fit import Fit, fit_model, geometry_summary

__all__ = ["NO_MODEL", "OPEN_FILE", "UNFIT", "SuperResolveState"]

#: Choices that are not a model: a placeholder when none is installed, and the file picker.
NO_MODEL = "no trained model installed"
OPEN_FILE = "open model file..."
#: Appended to the name of a model listed (greyed out) that does not fit the input scan.
UNFIT = " (does not fit)"


@evented(
    # A new scan or a new set of fits is a new object: told apart by identity, never compared.
    equality_operators={"volume": operator.is_, "fits": operator.is_},
    signal_aliases={name: None for name in ("input_metadata", "models", "opened")},
)
@dataclass
class SuperResolveState:
    """What the Super-resolve dock shows and runs; ``events`` fire when the scan, the fits
    (after a new scan or a refresh of the model list), the choice, the device or the note
    changes. A change sets the scan first and the choice last, so the last event of a change
    sees the whole of it."""

    volume: Volume | None = None  # the input scan (its geometry is what counts here)
    input_metadata: dict[str, Any] = field(default_factory=dict)  # the input layer's records
    method: Method | str | None = None  # the chosen model, the baseline or a placeholder
    device: str = "auto"
    note: str = ""  # why the choice moved to a model that fits the new scan
    models: dict[Method, dict] = field(default_factory=dict)  # every listed model's metadata
    fits: dict[Method, Fit] = field(default_factory=dict)  # how each fits the scan
    opened: dict[Method, dict] = field(default_factory=dict)  # files picked by the user

    # -- inputs -------------------------------------------------------------------------------
    def set_input(self, volume: Volume | None, metadata: dict[str, Any] | None = None) -> None:
        """A new input scan (None: no usable layer): fit every model to it once."""
        self.input_metadata = dict(metadata or {})
        self.volume = volume
        self._fit_all()

    def refresh_models(self) -> None:
        """Re-read the model folders (a model exported by training appears) and re-fit."""
        models = {Method(info.name, info.path): info.meta for info in list_models()}
        models.update({m: meta for m, meta in self.opened.items() if m not in models})
        self.models = models
        self._fit_all()

    def open_model_file(self, path: str | Path) -> Method:
        """List a ``.safetensors`` file the user picked (ValueError, in one sentence, for a
        file that is no model); whether it fits is in :attr:`fits`."""
        path = Path(path)
        meta = read_metadata(path)  # refuses pickles and foreign files without loading weights
        method = Method(path.stem, path)
        self.opened.setdefault(method, meta)
        self.refresh_models()
        return method

    def choose(self, method: Method | str | None) -> None:
        """The user's choice (a model, the baseline, or a placeholder)."""
        self.note, self.method = "", method

    # -- what the dock shows ------------------------------------------------------------------
    @property
    def choices(self) -> list[tuple[str, Method | str]]:
        """Models that fit the scan (bundled first), those that do not, then the rest."""
        fitting = [(m.name, m) for m in self.models if self.fits_input(m)]
        unfit = [(m.name + UNFIT, m) for m in self.models if not self.fits_input(m)]
        placeholder = [] if self.models else [(NO_MODEL, NO_MODEL)]
        return [*placeholder, *fitting, *unfit, (BASELINE, Method(BASELINE)), (OPEN_FILE, OPEN_FILE)]

    def fits_input(self, method: object) -> bool:
        """Whether ``method`` may run on the scan: the baseline always, a model if it fits."""
        fit = self.fits.get(method)
        return fit is None or fit.ok

    @property
    def ready(self) -> bool:
        return isinstance(self.method, Method) and self.volume is not None

    @property
    def hint(self) -> str:
        """Why a model was set aside for this scan, or that none is installed; and the chosen
        model's fit warning (a scan coarser than its training input)."""
        unfit = sum(not fit.ok for fit in self.fits.values())
        chosen = self.fits.get(self.method) if isinstance(self.method, Method) else None
        hints = [
            "No trained model is installed: open a model file or use the cubic baseline."
            if self.method == NO_MODEL
            else "",
            self.note,
            (chosen.warning or "") if chosen is not None else "",
            f"{unfit} model{'s' if unfit > 1 else ''} greyed out: not fitting this scan "
            "(hover for why)."
            if unfit and not self.note
            else "",
        ]
        return " ".join(h for h in hints if h)

    @property
    def geometry(self) -> str:
        """The chosen model's geometry beside the scan's and the result's, one per line."""
        method = self.method
        if self.volume is None or not isinstance(method, Method):
            return ""
        if not method.is_baseline:
            fit = self.fits.get(method)  # None only between a change and its re-fit
            return "" if fit is None else fit.summary.replace("; ", "\n")
        factors = baseline_factors(self.input_metadata)
        cubic = f"cubic interpolation x{' x'.join(map(str, factors))} (never refused)"
        return geometry_summary(cubic, self.volume, factors).replace("; ", "\n")

    def run_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~napari_mrisr.predict.method.iter_run` for this choice."""
        method = self.method
        degraded = "degradation" in self.input_metadata
        factors = baseline_factors(self.input_metadata) if method.is_baseline or degraded else None
        return {"method": method, "factors": factors, "fit": self.fits.get(method)}

    # -- the rule that keeps a fitting choice --------------------------------------------------
    def _fit_all(self) -> None:
        volume = self.volume
        self.fits = (
            {m: fit_model(volume, meta, m.name) for m, meta in self.models.items()}
            if volume is not None
            else {}
        )
        self._keep_a_fitting_model()

    def _keep_a_fitting_model(self) -> None:
        """If the chosen model does not fit the scan, choose the one that fits by the rule of
        ``mrisr predict`` without ``--model`` (:func:`~napari_mrisr.zoo.model_choice.preferred`):
        never a GAN, a full model on a GPU or a CPU with native bf16, else a compact one, then
        the best validation PSNR; the cubic baseline if no content model fits."""
        full = runs_full_models(pick_device(self.device))
        fitting = [(m, m.name, meta) for m, meta in self.models.items() if self.fits_input(m)]
        method = self.method
        if method not in {value for _, value in self.choices}:  # no choice yet: the default
            method = preferred(fitting, full) or next(v for _, v in self.choices if v != OPEN_FILE)
        fit = self.fits.get(method)
        note = ""
        if fit is not None and not fit.ok:
            method = preferred(fitting, full) or Method(BASELINE)
            note = f"{fit.reason} Switched to {method.name}."
        self.note, self.method = note, method
