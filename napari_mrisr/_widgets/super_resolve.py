"""Super-resolve widget: run a trained model (or the cubic baseline) on an image layer, in a worker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton, SpinBox
from napari.layers import Layer
from qtpy.QtWidgets import QFileDialog, QWidget

from ..pipeline import BASELINE, Method, SRResult, baseline_factors, iter_run, result_layer_data
from ..progress import Progress
from ..zoo import list_models, read_metadata, user_models_dir
from ._common import (
    layer_combo,
    layer_volume,
    rebuild_choices,
    scroll_layout,
    show_failure,
    start_worker,
    status_label,
)
from ._signals import MODELS

if TYPE_CHECKING:
    import napari

__all__ = ["SuperResolveWidget", "available_devices"]

#: Combo entries that are not a model: a placeholder when none is installed, and the file picker.
NO_MODEL = "no trained model installed"
OPEN_FILE = "open model file..."


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
        self._opened: list[Method] = []  # model files picked with "open model file..."
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
        self.hint = Label(value="")
        self.hint.native.setWordWrap(True)
        self.container = Container(
            widgets=[
                self.input,
                self.model,
                self.hint,
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
        self.input.changed.connect(self._update_run)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        MODELS.changed.connect(self._on_new_model)
        self._update_run()

    # -- model choices ----------------------------------------------------------------------
    def _model_choices(self, _widget=None) -> list[tuple[str, object]]:
        installed = [Method(info.name, info.path) for info in list_models()]  # bundled first
        models = installed + [m for m in self._opened if m not in installed]
        placeholder = [] if models else [(NO_MODEL, NO_MODEL)]
        return [
            *placeholder,
            *[(m.name, m) for m in models],
            (BASELINE, Method(BASELINE)),
            (OPEN_FILE, OPEN_FILE),
        ]

    def reset_choices(self, *_event) -> None:
        """Re-read the input layers (napari calls this when layers change)."""
        rebuild_choices(self.input)

    def refresh_models(self) -> None:
        """Re-scan the model folders (a model exported by training appears without a restart)."""
        with self.model.changed.blocked():
            rebuild_choices(self.model)
        self._last_model = self.model.value
        self._update_run()

    def _on_new_model(self, _path: str) -> None:
        try:
            self.refresh_models()
        except RuntimeError:  # this widget's Qt object is gone (viewer closed)
            MODELS.changed.disconnect(self._on_new_model)

    def add_model_file(self, path: str | Path) -> Method | None:
        """Offer a ``.safetensors`` model file and select it; a bad file gives one error sentence."""
        path = Path(path)
        try:
            read_metadata(path)  # refuses pickles and foreign files without loading weights
        except ValueError as exc:
            show_failure(exc, "Opening the model")
            return None
        method = Method(path.stem, path)
        if method not in self._opened:
            self._opened.append(method)
        self.refresh_models()
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
        self._last_model = self.model.value
        self._update_run()

    def _update_run(self, *_args) -> None:
        running = self.worker is not None
        ready = isinstance(self.model.value, Method) and self.input.value is not None
        self.run_button.enabled = ready and not running
        self.cancel_button.enabled = running
        self.hint.value = (
            "No trained model is installed: open a model file or use the cubic baseline."
            if self.model.value == NO_MODEL
            else ""
        )
        self.hint.visible = bool(self.hint.value)

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
