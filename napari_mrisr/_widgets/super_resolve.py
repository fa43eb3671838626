"""Super-resolve widget: run a trained model (or the cubic baseline) on an image layer, in a worker.

The dock renders a :class:`~napari_mrisr._widgets.state.super_resolve.SuperResolveState`: only
models that fit the input scan (:mod:`napari_mrisr.zoo.model_fit`) can be chosen; the others
are listed greyed out with the reason as their tooltip, and the model's and the scan's geometry
are shown side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, Label, SpinBox
from napari.layers import Layer
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import QFileDialog, QWidget

from napari_mrisr._napari.layers import layer_volume, result_layer_data
from napari_mrisr.engine.devices import available_devices
from napari_mrisr.predict.method import Method, SRResult, iter_run
from napari_mrisr.zoo.folders import user_models_dir

from .choices import layer_combo, rebuild_choices
from .layout import pinned_rows, scroll_layout, status_label
from .run_controls import RunControls
from .state.shared import MODELS
from .state.super_resolve import NO_MODEL, OPEN_FILE, UNFIT, SuperResolveState
from .worker import show_failure

if TYPE_CHECKING:
    import napari

__all__ = ["NO_MODEL", "OPEN_FILE", "UNFIT", "SuperResolveWidget"]


class SuperResolveWidget(QWidget):
    """Pick an input layer and a model, run tiled inference in a worker, add the SR layer."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = SuperResolveState()

        self.input = layer_combo(viewer, "input")
        self.model = ComboBox(label="model", choices=lambda _widget: self.state.choices)
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.tile = SpinBox(label="tile (0 = auto)", min=0, max=512, value=0)
        self.tile.tooltip = (
            "Tile edge in LR voxels; 0 = automatic (small on CPU, larger on big GPUs)."
        )
        self.controls = RunControls()
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
            ]
        )
        scroll_layout(self, self.container.native, pinned=pinned_rows(*self.controls.widgets))
        # The run controls' parts, under the names every dock uses.
        self.run_button, self.cancel_button = self.controls.run_button, self.controls.cancel_button
        self.progress, self.status = self.controls.progress, self.controls.status

        self.model.changed.connect(self._on_model)
        self.input.changed.connect(self._on_input)
        self.device.changed.connect(lambda value: setattr(self.state, "device", value))
        self.run_button.changed.connect(self.run)
        self.state.events.connect(self._render)
        MODELS.changed.connect(self._on_new_model)
        self._on_input()  # the scan first: the first model listed is then one that fits it
        self.refresh_models()

    @property
    def worker(self):
        """The running worker, or None."""
        return self.controls.job

    # -- rendering the state ----------------------------------------------------------------
    def _render(self, *_event) -> None:
        """Show the state: the model list (unfit models greyed out), the choice, hint, geometry."""
        state = self.state
        with self.model.changed.blocked():
            rebuild_choices(self.model)
            if state.method in self.model.choices:
                self.model.value = state.method
        combo = self.model.native
        for index in range(combo.count()):
            fit = state.fits.get(combo.itemData(index))
            if fit is not None and not fit.ok:
                item = combo.model().item(index)
                item.setEnabled(False)
                item.setToolTip(fit.reason)
        self.hint.value = state.hint
        self.hint.visible = bool(self.hint.value)
        self.geometry.value = state.geometry
        self.geometry.visible = bool(self.geometry.value)
        self.controls.ready = state.ready

    def reset_choices(self, *_event) -> None:
        """Re-read the input layers (napari calls this when layers change)."""
        rebuild_choices(self.input)

    def refresh_models(self, *_args) -> None:
        """Re-scan the model folders (a model exported by training appears without a restart)."""
        self.state.refresh_models()

    def _on_input(self, *_args) -> None:
        layer = self.input.value
        try:
            volume = None if layer is None else layer_volume(layer)
        except ValueError:  # not a usable volume: running it reports why
            volume = None
        self.state.set_input(volume, None if layer is None else layer.metadata)

    def _on_new_model(self, _path: str) -> None:
        try:
            self.model.native.count()
        except RuntimeError:  # this widget's Qt object is gone (viewer closed)
            MODELS.changed.disconnect(self._on_new_model)
            return
        self.refresh_models()

    def add_model_file(self, path: str | Path) -> Method | None:
        """Offer a ``.safetensors`` model file and select it if it fits the input scan.

        A bad file gives one error sentence; a model that does not fit the scan is listed
        (greyed out) and a notification says why.
        """
        try:
            method = self.state.open_model_file(path)
        except ValueError as exc:
            show_failure(exc, "Opening the model")
            return None
        if not self.state.fits_input(method):
            show_warning(self.state.fits[method].reason)
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
                self._render()  # cancelled or refused: back to the last choice
            return
        self.state.choose(value)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.refresh_models()
        super().showEvent(event)

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Start super-resolving the input layer in a worker thread."""
        layer, state = self.input.value, self.state
        if layer is None or not state.ready or self.controls.running:
            return
        try:
            volume = layer_volume(layer)
        except ValueError as exc:
            show_failure(exc, "Super-resolution")
            return
        arguments = state.run_arguments()
        fit = arguments["fit"]
        if fit is not None and not fit.ok:  # refused before anything runs
            show_failure(ValueError(fit.reason), "Super-resolution")
            return
        device, tile = self.device.value, self.tile.value or None
        source = (layer.name, dict(layer.metadata), tuple(layer.contrast_limits))
        method = arguments["method"]
        cancel = self.controls.cancel_requested  # stops the network inside a tile
        self.controls.start(
            lambda: iter_run(volume, device=device, tile=tile, cancel=cancel, **arguments),
            f"Super-resolving {layer.name}",
            on_result=lambda result: self._add_result(result, *source),
            status=f"running {method.name} on {layer.name}...",
        )

    def cancel(self) -> None:
        """Stop within a layer of the network, even inside a tile; nothing is added."""
        self.controls.cancel()

    def _add_result(self, result: SRResult, name: str, metadata: dict, limits: tuple) -> None:
        # start_worker calls this only with a finished run's result (never after a cancel)
        data = result_layer_data(result, name, metadata, contrast_limits=limits)
        self.viewer.add_layer(Layer.create(*data))
        self.status.value = f"added {data[1]['name']!r}"
