"""Self-supervised SR widget: super-resolve the open scan from its own slices, no training set."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, PushButton, SpinBox
from napari.layers import Layer
from qtpy.QtWidgets import QFileDialog, QWidget

from napari_mrisr._napari.layers import (
    layer_data,
    layer_volume,
    napari_axis_order,
    result_layer_data,
)
from napari_mrisr._napari.slices import slice_coordinate, world_of_slice
from napari_mrisr.engine.devices import available_devices
from napari_mrisr.predict.method import SRResult
from napari_mrisr.progress import Progress
from napari_mrisr.volume.base import Volume
from napari_mrisr.zoo.folders import user_models_dir

from .choices import layer_combo, rebuild_choices
from .layout import pinned_rows, scroll_layout
from .run_controls import RunControls
from .state.selfsr import SelfSRState
from .state.shared import MODELS
from .worker import show_failure, start_worker

if TYPE_CHECKING:
    import napari

__all__ = ["SelfSRWidget"]

#: The name the SR layer gives its "model".
METHOD = "self-supervised"


class SelfSRWidget(QWidget):
    """Pick an anisotropic scan; one click trains on its own slices and super-resolves it."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = SelfSRState()
        self.state.estimator = self._estimate_profile
        self.result = None  # the last SelfSRResult (its model can be saved)
        self.preview_layer = None  # the plane super-resolved so far, while training
        self._preview_plane: tuple[int, int] | None = None  # what the worker previews next
        self._preview_at = (-1, -1)  # (file axis, index) of the preview on screen

        self.input = layer_combo(viewer, "scan")
        self.geometry = Label(value="")
        self.geometry.native.setWordWrap(True)
        self.budget = ComboBox(label="budget", choices=["fast", "standard"], value="fast")
        self.budget.tooltip = "fast: minutes on a laptop CPU; standard: a larger network, for a GPU."
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.thickness = FloatSpinBox(label="slice thickness (mm, 0 = auto)", min=0, max=50, step=0.1)
        self.thickness.tooltip = (
            "The slices' FWHM. 0: with profile auto, the thickness the scan's DICOM header or "
            "BIDS sidecar states, else estimated from the scan; else the slice spacing. "
            "Thinner than the spacing models a gap between slices."
        )
        self.spacing = FloatSpinBox(label="output spacing (mm, 0 = in-plane)", min=0, max=50, step=0.1)
        self.profile = ComboBox(label="slice profile", choices=["auto", "rect", "gaussian"], value="auto")
        self.profile.tooltip = (
            "auto: a rect as thick as the scan's DICOM header or BIDS sidecar states, else the "
            "shape and thickness estimated from the scan itself; shown above."
        )
        self.seed = SpinBox(label="seed", min=0, max=2**31 - 1, value=0)
        self.controls = RunControls()
        self.save_button = PushButton(text="Save per-scan model...", enabled=False)
        self.save_button.tooltip = "A model file that super-resolves other scans of the same protocol."
        self.container = Container(
            widgets=[
                self.input, self.geometry, self.budget, self.device, self.thickness, self.spacing,
                self.profile, self.seed, self.save_button,
            ]
        )  # fmt: skip
        scroll_layout(self, self.container.native, pinned=pinned_rows(*self.controls.widgets))
        self.run_button, self.cancel_button = self.controls.run_button, self.controls.cancel_button
        self.progress, self.status = self.controls.progress, self.controls.status

        # The form writes the state; the state's plan is what the dock shows.
        self.input.changed.connect(self._on_input)
        self.thickness.changed.connect(lambda v: setattr(self.state, "thickness", v or None))
        self.spacing.changed.connect(lambda v: setattr(self.state, "spacing", v or None))
        for name in ("profile", "budget", "device", "seed"):
            getattr(self, name).changed.connect(partial(setattr, self.state, name))
        self.state.events.text.connect(self._render)
        self.state.events.grid.connect(self._render)
        self.run_button.changed.connect(self.run)
        self.save_button.changed.connect(self.save_model)
        self._on_input()
        self._render()

    @property
    def worker(self):
        """The running worker, or None."""
        return self.controls.job

    def _on_input(self, *_args) -> None:
        layer = self.input.value
        try:
            self.state.volume = None if layer is None else layer_volume(layer)
        except ValueError as exc:  # not a usable volume: say why
            self.state.volume = None
            self.state.text = str(exc)

    def _estimate_profile(self, volume: Volume, done) -> None:
        """The state's estimator: seconds of work in a worker thread, the dock responsive
        meanwhile; ``done`` runs on the GUI thread."""

        def failed(ok: bool) -> None:
            if not ok:  # the error was shown; the dock must not wait for ever
                note = "The slice profile could not be estimated; assuming contiguous rect slices."
                done({"note": note})

        start_worker(
            partial(_estimating, volume),
            f"Estimating the slice profile of {volume.name}",
            on_result=done,
            on_done=failed,
        )

    def _render(self, *_args) -> None:
        self.geometry.value = self.state.text
        self.controls.ready = self.state.ready

    def reset_choices(self, *_event) -> None:
        """Re-read the image layers (napari calls this when layers change)."""
        rebuild_choices(self.input)

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Train on the scan's own slices and super-resolve it, in a worker thread."""
        from napari_mrisr.selfsr import iter_selfsr

        layer, state = self.input.value, self.state
        if layer is None or not state.ready or self.controls.running:
            return
        volume, grid, settings = state.volume, state.grid, state.run_arguments()
        source = (layer.name, dict(layer.metadata), tuple(layer.contrast_limits))
        self._source, self._slice_axis, self._out_affine = source, grid.axis, grid.out_affine(volume.affine)
        self._preview_plane = self._viewed_plane()
        self.controls.start(
            lambda: iter_selfsr(volume, **settings, preview_plane=lambda: self._preview_plane),
            f"Self-supervised SR of {layer.name}",
            on_result=lambda result: self._add_result(result, settings, *source),
            status=f"training on the slices of {layer.name}...",
            on_progress=self._on_progress,
            on_done=self._on_done,
        )

    def cancel(self) -> None:
        """Stop after the current step; nothing is added."""
        self.controls.cancel()

    def _on_progress(self, event: Progress) -> None:
        if event.total and not event.warning and event.message:
            self.status.value = event.message
        if event.preview is not None:
            self._show_preview(event.preview)
        self._preview_plane = self._viewed_plane()  # the worker reads it for the next preview

    # -- live preview -------------------------------------------------------------------------
    def _viewed_plane(self) -> tuple[int, int] | None:
        """The scan plane to preview, ``(file axis, index)``: the one on screen when the view
        crosses the slices (a coronal or sagittal view of an axial scan), else the central plane
        across them."""
        layer, dims = self.input.value, self.viewer.dims
        if layer is None or layer not in self.viewer.layers or "affine" not in layer.metadata:
            return None
        order = napari_axis_order(layer.metadata["affine"])  # napari data axis -> file axis
        sliced = dims.not_displayed[0] if dims.ndisplay == 2 else None
        if sliced is None or order[sliced] == self._slice_axis:
            across = max(a for a in range(3) if a != self._slice_axis)
            return across, layer.data.shape[order.index(across)] // 2
        preview = self.preview_layer
        if preview is not None and preview in self.viewer.layers and self._preview_at[0] == order[sliced]:
            # the plane napari would show of a preview at the plane it shows now
            return order[sliced], self._preview_at[1] + round(slice_coordinate(preview, sliced, dims.point))
        return order[sliced], round(slice_coordinate(layer, sliced, dims.point))

    def _show_preview(self, plane) -> None:
        name, _metadata, limits = self._source
        axis = next(a for a in range(3) if plane.shape[a] == 1 and a != self._slice_axis)
        index = int(round((np.linalg.inv(self._out_affine) @ plane.affine[:, 3])[axis]))
        self._preview_at = axis, index
        if self.viewer.dims.ndisplay == 2:
            # napari draws an oblique layer's slice without its out-of-plane tilt, all slices
            # in one place: draw the preview where it will draw that slice of the result.
            plane = Volume(plane.data, self._out_affine, plane.name)
        data, attributes, _ = layer_data(plane, contrast_limits=limits, metadata={"input": name})
        attributes["name"] = f"{name} SR preview (training)"
        if self.viewer.dims.ndisplay == 2:
            world_axis = napari_axis_order(self._out_affine).index(axis)
            step = np.linalg.inv(attributes["affine"])[world_axis, world_axis]  # data per mm
            shift = np.eye(4)
            shift[world_axis, 3] = index / step
            attributes["affine"] = shift @ attributes["affine"]
        layer = self.preview_layer
        if layer is None or layer not in self.viewer.layers:
            active = self.viewer.layers.selection.active
            self.preview_layer = self.viewer.add_layer(Layer.create(data, attributes, "image"))
            self.viewer.layers.selection.active = active  # the user's layer stays selected
            self._reveal(self.preview_layer)
        else:
            layer.data, layer.affine = data, attributes["affine"]
            layer.metadata = attributes["metadata"]

    def _reveal(self, preview) -> None:
        """Once, with the first preview: turn a 2D view that shows the scan's slices (where the
        preview plane is edge-on) to slice across them, at the preview."""
        dims = self.viewer.dims
        across = int(np.argmin(preview.data.shape))  # its one-voxel napari axis
        if dims.ndisplay != 2 or dims.not_displayed[0] == across:
            return
        order = napari_axis_order(self.input.value.metadata["affine"])
        if order[dims.not_displayed[0]] != self._slice_axis:
            return  # the user looks across the slices, at another plane: the next preview follows
        dims.order = (across, *(a for a in dims.order if a != across))
        dims.set_point(across, world_of_slice(preview, across, 0.0))

    def _remove_preview(self) -> None:
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self.preview_layer)
        self.preview_layer = None

    def _add_result(self, result, settings: dict, name: str, metadata: dict, limits: tuple) -> None:
        self.result = result
        meta = {"selfsr": result.grid.to_meta(), "settings": settings}
        sr = SRResult(result.sr, METHOD, meta)
        self.viewer.add_layer(Layer.create(*result_layer_data(sr, name, metadata, contrast_limits=limits)))
        disagreement = result.disagreement
        disagreement.name = f"{name} SR disagreement"
        data = layer_data(disagreement, colormap="inferno", metadata={"input": name, **meta}, visible=False)
        self.viewer.add_layer(Layer.create(*data))
        self.status.value = f"added {name} SR {METHOD} and its disagreement map (hidden)"
        self.save_button.enabled = True

    def _on_done(self, ok: bool) -> None:
        import torch

        self._remove_preview()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the GPU memory of training goes back when it ends

    # -- the per-scan model -----------------------------------------------------------------
    def _ask_model_path(self) -> str:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save per-scan model", str(user_models_dir()), "napari-mrisr models (*.safetensors)"
        )
        return path if not path or path.endswith(".safetensors") else path + ".safetensors"

    def save_model(self) -> None:
        """Save the last run's network as a model file (listed by Super-resolve if in the user folder)."""
        from napari_mrisr.selfsr.run import save_selfsr_model

        if self.result is None or self.result.model is None:
            return
        path = self._ask_model_path()
        if not path:
            return
        try:
            saved = save_selfsr_model(self.result.model, self.result.grid, path)
        except (ValueError, OSError) as exc:
            show_failure(exc, "Saving the model")
            return
        self.status.value = f"saved {saved}"
        MODELS.changed.emit(str(saved))


def _estimating(volume: Volume):
    """:func:`~napari_mrisr.selfsr.grid.scan_estimate` as the generator a worker runs (no steps)."""
    from napari_mrisr.selfsr.grid import scan_estimate

    yield from ()
    return scan_estimate(volume)
