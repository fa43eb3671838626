"""Super-resolve widget: run a trained model (or the cubic baseline) on an image layer, in a worker.

Only models that fit the input scan (:mod:`napari_mrisr.zoo.model_fit`) can be chosen; the others are
listed greyed out with the reason as their tooltip, and the model's and the scan's geometry
are shown side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton, SpinBox
from napari.layers import Layer
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import QFileDialog, QWidget

from napari_mrisr._napari.layers import layer_volume, result_layer_data
from napari_mrisr.engine.devices import pick_device
from napari_mrisr.predict.method import BASELINE, Method, SRResult, baseline_factors, iter_run
from napari_mrisr.progress import Progress
from napari_mrisr.volume.io import Volume
from napari_mrisr.zoo.folders import list_models, user_models_dir
from napari_mrisr.zoo.metadata import read_metadata
from napari_mrisr.zoo.model_choice import preference, runs_full_models
from napari_mrisr.zoo.model_fit import Fit, fit_model, geometry_summary

from .choices import layer_combo, rebuild_choices
from .layout import scroll_layout, status_label
from .state.shared import MODELS
from .worker import show_failure, start_worker

if TYPE_CHECKING:
    import napari

__all__ = ["SuperResolveWidget", "available_devices"]

#: Combo entries that are not a model: a placeholder when none is installed, and the file picker.
NO_MODEL = "no trained model installed"
OPEN_FILE = "open model file..."
#: Appended to the name of a model listed (greyed out) that does not fit the input scan.
UNFIT = " (does not fit)"


def available_devices() -> list[str]:
    """``auto`` plus the devices torch can use on this machine (the CPU always)."""
    import torch

    devices = ["auto"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if torch.backends.mps.is_available():
        devices.append("mps")
    return [*devices, "cpu"]


class SuperResolveWidget(QWidget):
    """Pick an input layer and a model, run tiled inference in a worker, add the SR layer."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.worker = None
        self._opened: dict[Method, dict] = {}  # files picked with "open model file..." -> metadata
        self._meta: dict[Method, dict] = {}  # every listed model's metadata
        self._fits: dict[Method, Fit] = {}  # how each listed model fits the input scan
        self._volume: Volume | None = None  # the input scan (geometry only is used here)
        self._switched = ""  # why the model choice moved to one that fits the new input
        self._last_model: object = None

        self.input = layer_combo(viewer, "input")
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.tile = SpinBox(label="tile (0 = auto)", min=0, max=512, value=0)
        self.tile.tooltip = "Tile edge in LR voxels; 0 = automatic (small on CPU, larger on big GPUs)."
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        buttons = Container(
            widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False
        )
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = status_label()
        self.geometry = status_label()  # the model's geometry beside the scan's
        self.hint = Label(value="")
        self.hint.native.setWordWrap(True)
        self.container = Container(
            widgets=[
                self.input,
                self.hint,  # why a model was set aside for this input, or none is installed
                self.model,
                self.geometry,
                self.device,
                self.tile,
                buttons,
                self.progress,
                self.status,
            ]
        )
        scroll_layout(self, self.container.native)

        self._last_model = self.model.value
        self.model.changed.connect(self._on_model)
        self.input.changed.connect(self.refresh_models)  # the models that fit depend on the scan
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        MODELS.changed.connect(self._on_new_model)
        self.refresh_models()

    # -- model choices ----------------------------------------------------------------------
    def _model_choices(self, _widget=None) -> list[tuple[str, object]]:
        """Models that fit the input scan (bundled first), those that do not, then the rest."""
        self._meta = {Method(info.name, info.path): info.meta for info in list_models()}
        self._meta.update({m: meta for m, meta in self._opened.items() if m not in self._meta})
        self._volume = self._input_volume()
        self._fits = (
            {m: fit_model(self._volume, meta, m.name) for m, meta in self._meta.items()}
            if self._volume is not None
            else {}
        )
        fitting = [(m.name, m) for m in self._meta if self._fits_input(m)]
        unfit = [(m.name + UNFIT, m) for m in self._meta if not self._fits_input(m)]
        placeholder = [] if self._meta else [(NO_MODEL, NO_MODEL)]
        rest = [(BASELINE, Method(BASELINE)), (OPEN_FILE, OPEN_FILE)]
        return [*placeholder, *fitting, *unfit, *rest]

    def _input_volume(self) -> Volume | None:
        try:
            return None if self.input.value is None else layer_volume(self.input.value)
        except ValueError:  # not a usable volume: running it reports why
            return None

    def _fits_input(self, method: object) -> bool:
        """Whether ``method`` may run on the input: the baseline always, a model if it fits."""
        fit = self._fits.get(method)
        return fit is None or fit.ok

    def _grey_out_unfit(self) -> None:
        """Models that do not fit the scan cannot be picked; their tooltip says why."""
        combo = self.model.native
        for index in range(combo.count()):
            fit = self._fits.get(combo.itemData(index))
            if fit is not None and not fit.ok:
                item = combo.model().item(index)
                item.setEnabled(False)
                item.setToolTip(fit.reason)

    def _keep_a_fitting_model(self) -> None:
        """If the chosen model does not fit the input, pick one that does (else cubic) by the
        demo's rule (:func:`~napari_mrisr.zoo.model_choice.preference`): a full model on a GPU or a CPU with
        native bf16, else a compact one, then a content model over a GAN, then the best
        validation PSNR."""
        fit = self._fits.get(self.model.value)
        if fit is None or fit.ok:
            return
        full = runs_full_models(pick_device(self.device.value))
        fitting = [c for c in self.model.choices if isinstance(c, Method) and self._fits_input(c)]
        choice = max(fitting, key=lambda c: preference(c.name, self._meta.get(c, {}), full))
        with self.model.changed.blocked():
            self.model.value = choice
        self._switched = f"{fit.reason} Switched to {choice.name}."

    def reset_choices(self, *_event) -> None:
        """Re-read the input layers (napari calls this when layers change)."""
        rebuild_choices(self.input)

    def refresh_models(self, *_args) -> None:
        """Re-scan the model folders (a model exported by training appears without a restart)
        and re-check which models fit the input scan."""
        self._switched = ""
        with self.model.changed.blocked():
            rebuild_choices(self.model)
        self._grey_out_unfit()
        self._keep_a_fitting_model()
        self._last_model = self.model.value
        self._update_run()

    def _on_new_model(self, _path: str) -> None:
        try:
            self.refresh_models()
        except RuntimeError:  # this widget's Qt object is gone (viewer closed)
            MODELS.changed.disconnect(self._on_new_model)

    def add_model_file(self, path: str | Path) -> Method | None:
        """Offer a ``.safetensors`` model file and select it if it fits the input scan.

        A bad file gives one error sentence; a model that does not fit the scan is listed
        (greyed out) and a notification says why.
        """
        path = Path(path)
        try:
            meta = read_metadata(path)  # refuses pickles and foreign files without loading weights
        except ValueError as exc:
            show_failure(exc, "Opening the model")
            return None
        method = Method(path.stem, path)
        self._opened.setdefault(method, meta)
        self.refresh_models()
        if not self._fits_input(method):
            show_warning(self._fits[method].reason)
            return None
        self.model.value = method
        return method

    def _ask_model_file(self) -> str:
        """The model file the user picks ('' if cancelled)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open model file", str(user_models_dir()), "napari-mrisr models (*.safetensors)"
        )
        return path

    def _on_model(self, value) -> None:
        if value == OPEN_FILE:
            path = self._ask_model_file()
            if not path or self.add_model_file(path) is None:
                self.model.value = self._last_model  # cancelled or refused: back to the last choice
                return
        self._switched = ""
        self._last_model = self.model.value
        self._update_run()

    def _update_run(self, *_args) -> None:
        running = self.worker is not None
        ready = isinstance(self.model.value, Method) and self.input.value is not None
        self.run_button.enabled = ready and not running
        self.cancel_button.enabled = running
        self.geometry.value = self._geometry_text()
        self.geometry.visible = bool(self.geometry.value)
        unfit = sum(not fit.ok for fit in self._fits.values())
        hints = [
            "No trained model is installed: open a model file or use the cubic baseline."
            if self.model.value == NO_MODEL
            else "",
            self._switched,
            f"{unfit} model{'s' if unfit > 1 else ''} greyed out: not fitting this scan "
            "(hover for why)."
            if unfit and not self._switched
            else "",
        ]
        self.hint.value = " ".join(h for h in hints if h)
        self.hint.visible = bool(self.hint.value)

    def _geometry_text(self) -> str:
        """The chosen model's geometry beside the scan's, one per line."""
        method = self.model.value
        if self._volume is None or not isinstance(method, Method):
            return ""
        if not method.is_baseline:
            return self._fits[method].summary.replace("; ", "\n")
        factors = baseline_factors(getattr(self.input.value, "metadata", None))
        cubic = f"cubic interpolation x{' x'.join(map(str, factors))} (never refused)"
        return geometry_summary(cubic, self._volume, factors).replace("; ", "\n")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.refresh_models()
        super().showEvent(event)

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Start super-resolving the input layer in a worker thread."""
        layer, method = self.input.value, self.model.value
        if layer is None or not isinstance(method, Method) or self.worker is not None:
            return
        try:
            volume = layer_volume(layer)
            degradation = layer.metadata.get("degradation")
            factors = baseline_factors(layer.metadata) if method.is_baseline or degradation else None
        except ValueError as exc:
            show_failure(exc, "Super-resolution")
            return
        fit = None if method.is_baseline else fit_model(volume, self._meta[method], method.name)
        if fit is not None and not fit.ok:  # refused before anything runs
            show_error(fit.reason)
            return
        device, tile = self.device.value, self.tile.value or None
        source = (layer.name, dict(layer.metadata), tuple(layer.contrast_limits))
        self.progress.max, self.progress.value = 1, 0
        self.status.value = f"running {method.name} on {layer.name}..."
        self.worker = start_worker(
            lambda: iter_run(volume, method, device=device, tile=tile, factors=factors),
            f"Super-resolving {layer.name}",
            on_result=lambda result: self._add_result(result, *source),
            on_progress=self._on_progress,
            on_done=self._on_done,
        )
        self._update_run()

    def cancel(self) -> None:
        """Stop after the current tile; nothing is added."""
        if self.worker is not None:
            self.status.value = "cancelling..."
            self.worker.quit()

    def _on_progress(self, event: Progress) -> None:
        if event.total and not event.warning:
            self.progress.max = event.total
            self.progress.value = event.done

    def _add_result(self, result: SRResult, name: str, metadata: dict, limits: tuple) -> None:
        # start_worker calls this only with a finished run's result (never after a cancel)
        data = result_layer_data(result, name, metadata, contrast_limits=limits)
        self.viewer.add_layer(Layer.create(*data))
        self.status.value = f"added {data[1]['name']!r}"

    def _on_done(self, ok: bool) -> None:
        if not ok:
            self.status.value = "cancelled; no layer added" if self.worker.abort_requested else "failed; no layer added"
        self.worker = None
        self._update_run()
