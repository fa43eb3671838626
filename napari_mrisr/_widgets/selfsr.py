"""Self-supervised SR widget: super-resolve the open scan from its own slices, no training set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.layers import Layer
from qtpy.QtWidgets import QFileDialog, QWidget

from ..layers import layer_data
from ..pipeline import SRResult, result_layer_data
from ..progress import Progress
from ..zoo import user_models_dir
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
from .super_resolve import available_devices

if TYPE_CHECKING:
    import napari

__all__ = ["SelfSRWidget"]

#: The name the SR layer gives its "model".
METHOD = "self-supervised"


def describe(grid, volume) -> str:
    """One line a radiologist can check against the scan's protocol."""
    import nibabel as nib

    direction = {"R": "L-R", "L": "L-R", "A": "A-P", "P": "A-P", "S": "S-I", "I": "S-I"}
    axis = direction[nib.aff2axcodes(volume.affine)[grid.axis]]
    gap = f", {grid.thickness:.3g} mm thick" if abs(grid.thickness - grid.lr_spacing) > 1e-6 else ""
    return (
        f"Slices along {axis}: {grid.lr_spacing:.3g} mm apart{gap}, {grid.in_plane_spacing:.3g} mm "
        f"in-plane (ratio {grid.ratio:.3g}); the result has {grid.out_spacing:.3g} mm along {axis}."
    )


class SelfSRWidget(QWidget):
    """Pick an anisotropic scan; one click trains on its own slices and super-resolves it."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.worker = None
        self.result = None  # the last SelfSRResult (its model can be saved)

        self.input = layer_combo(viewer, "scan")
        self.geometry = Label(value="")
        self.geometry.native.setWordWrap(True)
        self.budget = ComboBox(label="budget", choices=["fast", "standard"], value="fast")
        self.budget.tooltip = "fast: minutes on a laptop CPU; standard: a larger network, for a GPU."
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.thickness = FloatSpinBox(label="slice thickness (mm, 0 = spacing)", min=0, max=50, step=0.1)
        self.thickness.tooltip = "Thinner than the slice spacing models a gap between slices."
        self.spacing = FloatSpinBox(label="output spacing (mm, 0 = in-plane)", min=0, max=50, step=0.1)
        self.profile = ComboBox(label="slice profile", choices=["rect", "gaussian"], value="rect")
        self.seed = SpinBox(label="seed", min=0, max=2**31 - 1, value=0)
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.save_button = PushButton(text="Save per-scan model...", enabled=False)
        self.save_button.tooltip = "A model file that super-resolves other scans of the same protocol."
        buttons = Container(widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False)
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = status_label()
        self.container = Container(
            widgets=[
                self.input, self.geometry, self.budget, self.device, self.thickness, self.spacing,
                self.profile, self.seed, buttons, self.progress, self.status, self.save_button,
            ]
        )  # fmt: skip
        scroll_layout(self, self.container.native)

        for widget in (self.input, self.thickness, self.spacing, self.profile):
            widget.changed.connect(self._describe)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.save_button.changed.connect(self.save_model)
        self._describe()

    def reset_choices(self, *_event) -> None:
        """Re-read the image layers (napari calls this when layers change)."""
        rebuild_choices(self.input)

    def _settings(self) -> dict:
        return {
            "thickness": self.thickness.value or None,
            "spacing": self.spacing.value or None,
            "profile": self.profile.value,
        }

    def _describe(self, *_args) -> None:
        """Show what the header says (slice axis, spacing, ratio) or why the scan cannot be used."""
        from ..selfsr import plan_grid

        layer, ready = self.input.value, False
        if layer is None:
            text = "Open an anisotropic scan (File > Open) to super-resolve its slice axis."
        else:
            try:
                volume = layer_volume(layer)
                text, ready = describe(plan_grid(volume, **self._settings()), volume), True
            except ValueError as exc:
                text = str(exc)
        self.geometry.value = text
        self.run_button.enabled = ready and self.worker is None

    # -- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Train on the scan's own slices and super-resolve it, in a worker thread."""
        from ..selfsr import iter_selfsr

        layer = self.input.value
        if layer is None or self.worker is not None:
            return
        try:
            volume = layer_volume(layer)
        except ValueError as exc:
            show_failure(exc, "Self-supervised SR")
            return
        settings = {**self._settings(), "budget": self.budget.value, "device": self.device.value}
        settings["seed"] = self.seed.value
        source = (layer.name, dict(layer.metadata), tuple(layer.contrast_limits))
        self.progress.max, self.progress.value = 1, 0
        self.status.value = f"training on the slices of {layer.name}..."
        self.worker = start_worker(
            lambda: iter_selfsr(volume, **settings),
            f"Self-supervised SR of {layer.name}",
            on_result=lambda result: self._add_result(result, settings, *source),
            on_progress=self._on_progress,
            on_done=self._on_done,
        )
        self.run_button.enabled, self.cancel_button.enabled = False, True

    def cancel(self) -> None:
        """Stop after the current step; nothing is added."""
        if self.worker is not None:
            self.status.value = "cancelling..."
            self.worker.quit()

    def _on_progress(self, event: Progress) -> None:
        if event.total and not event.warning:
            self.progress.max, self.progress.value = event.total, event.done
            if event.message:
                self.status.value = event.message

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

        if not ok:
            self.status.value = "cancelled; no layer added" if self.worker.abort_requested else "failed; no layer added"
        self.worker = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the GPU memory of training goes back when it ends
        self.cancel_button.enabled = False
        self._describe()

    # -- the per-scan model -----------------------------------------------------------------
    def _ask_model_path(self) -> str:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save per-scan model", str(user_models_dir()), "napari-mrisr models (*.safetensors)"
        )
        return path if not path or path.endswith(".safetensors") else path + ".safetensors"

    def save_model(self) -> None:
        """Save the last run's network as a model file (listed by Super-resolve if in the user folder)."""
        from ..selfsr import save_selfsr_model

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
