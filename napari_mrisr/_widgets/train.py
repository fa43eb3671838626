"""Train widget: pick data and a preset, edit the main fields, train in a subprocess, watch it live.

Training runs as ``python -P -m napari_mrisr.training fit``
(:class:`~napari_mrisr.training.runner.TrainingRun`), so napari stays responsive and a crash on
either side loses nothing on the other. The form's values become a config in
:func:`~napari_mrisr.training.form.config_from_form` (no Qt). The widget polls the run's
JSON-lines events, plots losses and validation PSNR against the cubic baseline, and at the end
announces the exported model on :data:`~napari_mrisr._widgets.state.shared.MODELS` (the
Super-resolve widget lists it). Stop (or closing
napari) sends SIGTERM: training finishes its step, writes its last checkpoint and exits.
"""

from __future__ import annotations

import atexit
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    LineEdit,
    Select,
    SpinBox,
)
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication, QWidget

from napari_mrisr._napari.layers import layer_volume
from napari_mrisr.engine.devices import available_devices
from napari_mrisr.training.config import list_presets, load_config
from napari_mrisr.training.form import (
    TrainForm,
    config_from_form,
    form_from_preset,
    learning_rate,
    runs_dir,
    save_for_training,
)
from napari_mrisr.training.runner import TrainingRun
from napari_mrisr.volume.degrade import DegradationMethod

from .choices import image_layers
from .layout import pinned_rows, scroll_layout
from .line_plot import LinePlot
from .run_controls import RunControls
from .state.shared import MODELS
from .state.train import FOLDER, LAYERS, LOSS_LABELS, SAMPLE, factor_axes, format_eta

if TYPE_CHECKING:
    import napari

__all__ = ["TrainWidget"]

_RUNNING: set = set()  # runs to stop if Python exits while they train


@atexit.register
def _stop_all() -> None:
    for run in list(_RUNNING):
        run.stop(timeout=20)


def _stop_run(run, *_args) -> None:
    run.stop(timeout=20)
    _RUNNING.discard(run)


class TrainWidget(QWidget):
    """Configure a training run from a preset, start and stop it, and follow its progress."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.run = None
        self.source = ComboBox(label="data", choices=[SAMPLE, FOLDER, LAYERS], value=SAMPLE)
        self.folder = FileEdit(label="folder", mode="d", visible=False)
        self.layers = Select(label="layers", choices=self._layer_choices, visible=False)
        self.preset = ComboBox(label="preset", choices=list_presets(), value="tiny")
        self.name = LineEdit(label="name", value="tiny")
        self.method = ComboBox(label="degradation", choices=[m.value for m in DegradationMethod])
        # One row per file axis, named by the direction it runs in the training scans: three
        # labelled spin boxes side by side would make the dock too wide.
        self.factors = Container(
            label="factors",
            widgets=[SpinBox(label=axis, min=1, max=8, value=2) for axis in "ijk"],
        )
        self.factors.margins = (0, 0, 0, 0)
        self.pretrain = SpinBox(label="pretrain steps", min=0, max=10_000_000, step=50)
        self.adversarial = SpinBox(label="GAN steps", min=0, max=10_000_000, step=50)
        self.batch = SpinBox(label="batch size", min=1, max=256)
        self.patch = SpinBox(label="patch edge", min=8, max=256, step=8)
        # Typed, not a spin box: a spin box shows a fixed number of decimals, and 5e-5 became
        # 0.0001 and 1e-5 became 0 in one with four.
        self.lr = LineEdit(label="learning rate", value="1e-4")
        self.lr.tooltip = "The generator's Adam learning rate, e.g. 1e-4 or 5e-5."
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.controls = RunControls(
            run="Start", cancel="Stop", cancelling="stopping after the current step..."
        )
        self.start_button, self.stop_button = self.controls.run_button, self.controls.cancel_button
        self.progress, self.status = self.controls.progress, self.controls.status
        self.form = Container(
            widgets=[
                self.source, self.folder, self.layers, self.preset, self.name, self.method,
                self.factors, self.pretrain, self.adversarial, self.batch, self.patch, self.lr,
                self.device,
            ]
        )  # fmt: skip
        self.losses = LinePlot("training losses (log)", log_y=True)
        self.psnr = LinePlot("validation PSNR in the foreground (dB)")
        pinned = pinned_rows(*self.controls.widgets)
        scroll_layout(self, self.form.native, self.losses, self.psnr, pinned=pinned)

        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.poll)
        self.source.changed.connect(self._on_source)
        self.folder.changed.connect(self._label_factor_axes)
        self.layers.changed.connect(self._label_factor_axes)
        self.preset.changed.connect(self._on_preset)
        self.start_button.changed.connect(self.start)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_quit)
        self._on_preset(self.preset.value)
        self._label_factor_axes()

    # -- form ---------------------------------------------------------------------------------
    def _layer_choices(self, _widget=None):
        return [(layer.name, layer) for layer in image_layers(self.viewer)]

    def reset_choices(self, *_event) -> None:
        """Re-read the image layers (napari calls this when layers change)."""
        self.layers.reset_choices()

    def _on_source(self, value: str) -> None:
        self.folder.visible = value == FOLDER
        self.layers.visible = value == LAYERS
        self._label_factor_axes()

    def _label_factor_axes(self, *_args) -> None:
        """Name each factor box by the direction its file axis runs (L-R, A-P, S-I).

        Factors act on the voxel axes of each training scan; the names come from the scans'
        headers (i, j, k when unknown, or when the scans' axes run different ways).
        """
        layers = self.layers.value if self.source.value == LAYERS else ()
        affines = [layer_volume(layer).affine for layer in layers or ()]
        labels, origin = factor_axes(self.source.value, self.folder.value, affines)
        for box, label in zip(self.factors, labels, strict=True):
            box.label = label
        self.factors.tooltip = (
            f"Downsampling factor along each voxel axis of the training scans{origin}."
        )

    def _on_preset(self, name: str) -> None:
        form = form_from_preset(name)
        self.name.value = form.name
        self.method.value = form.method
        for box, f in zip(self.factors, form.factors, strict=True):
            box.value = f
        self.pretrain.value = form.pretrain_steps
        self.adversarial.value = form.adversarial_steps
        self.adversarial.enabled = load_config(name).discriminator.architecture != "none"
        self.batch.value = form.batch_size
        self.patch.value = form.patch_edge
        self.lr.value = f"{form.lr:g}"

    def build_config(self):
        """The preset with the form's fields applied (see :func:`config_from_form`)."""
        form = TrainForm(
            preset=self.preset.value,
            name=self.name.value,
            method=self.method.value,
            factors=[box.value for box in self.factors],
            pretrain_steps=self.pretrain.value,
            adversarial_steps=self.adversarial.value,
            batch_size=self.batch.value,
            patch_edge=self.patch.value,
            lr=learning_rate(self.lr.value),
            device=self.device.value,
            data_paths=self._data_paths(),
        )
        return config_from_form(form)

    def _data_paths(self) -> list[str]:
        if self.source.value == FOLDER:
            folder = Path(self.folder.value)
            if not folder.is_dir():
                raise ValueError("Choose a folder of NIfTI/MGZ volumes to train on.")
            return [str(folder)]
        if self.source.value == LAYERS:
            layers = self.layers.value
            if not layers:
                raise ValueError("Select at least one image layer to train on.")
            # The subprocess reads files, so the layers are saved first.
            return save_for_training([layer_volume(layer) for layer in layers], runs_dir() / "layer-data")
        return []

    # -- running ----------------------------------------------------------------------------
    def start(self) -> None:
        """Validate the settings and start training in a subprocess."""
        if self.run is not None and self.run.running:
            return
        try:
            config = self.build_config()
        except (ValueError, OSError) as exc:
            show_error(str(exc))
            return
        self.run = TrainingRun(config, install=True)
        self.run.start()
        _RUNNING.add(self.run)
        # If napari deletes this widget (viewer closed) while training, stop the subprocess:
        # the slot holds the run, not the widget, so it is safe after the widget is gone.
        self.destroyed.connect(partial(_stop_run, self.run))
        self.losses.clear()
        self.psnr.clear()
        self.controls.begin(f"starting {config.name} (run folder {config.run_dir})", job=self.run)
        self.controls.show_progress(0, config.schedule.total_steps)
        self.timer.start()

    def stop(self) -> None:
        """Ask training to stop after its current step; its last checkpoint is kept."""
        if self.run is not None and self.run.running:
            self.controls.cancel()

    def poll(self) -> None:
        """Read new progress events; finish up when the subprocess has ended."""
        run = self.run
        if run is None:
            return
        ended = not run.running  # checked first, so the read below holds its last events
        for event in run.new_events():
            self._on_event(event)
        if ended:
            self.timer.stop()
            _RUNNING.discard(run)
            self.controls.finish()
            if run.returncode not in (0, None) and "finished" not in self.status.value:
                show_error(f"Training ended with an error: {run.log_tail(1) or run.returncode}")

    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.status.value = f"training on {event.get('device')}..."
        elif kind == "step":
            self.controls.show_progress(event["step"], event["total_steps"])
            losses = event["losses"]
            for name, value in losses.items():
                label = LOSS_LABELS.get(name)
                if label and not (name == "loss_g" and set(losses) <= {"loss", "loss_g", "loss_content"}):
                    self.losses.add_point(label, event["step"], value)  # (total = content: not twice)
            self.status.value = (
                f"step {event['step']}/{event['total_steps']} ({event['phase']}), "
                f"{event.get('patches_per_s', 0):.1f} patches/s, ETA {format_eta(event.get('eta_s'))}"
            )
        elif kind == "validation":
            metrics = event["metrics"]
            self.psnr.add_point("model", event["step"], metrics["model"]["psnr_brain"])
            self.psnr.add_point("cubic", event["step"], metrics["cubic"]["psnr_brain"], dashed=True)
        elif kind == "end":
            self._on_end(event)

    def _on_end(self, event: dict) -> None:
        status = event.get("status")
        if status == "finished" and event.get("model"):
            self.status.value = f"finished: model {Path(event['model']).stem} installed"
            show_info(f"Training finished; {Path(event['model']).stem!r} is in the Super-resolve model list.")
            MODELS.changed.emit(event["model"])
        elif status == "stopped":
            self.status.value = f"stopped; last checkpoint kept in {self.run.run_dir / 'checkpoints'}"
        else:
            self.status.value = "failed"
            show_error(event.get("message") or "Training failed.")

    def _on_quit(self) -> None:
        if self.run is not None and self.run.running:
            _stop_run(self.run)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._on_quit()
        super().closeEvent(event)
