"""Compare widget: LR, SR, cubic baseline and ground truth side by side, with maps and metrics.

Longer than our usual module: it is one dock's Qt glue (its form, the run, the layers it adds,
the table's exports), a few lines a method; what has a job of its own already lives apart (the
choices in ``state/compare``, the grid in ``compare_grid``, its cells, detail zoom and foreign
layers, the metrics table in ``metrics_table``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, ComboBox, Container, PushButton
from napari.layers import Image, Labels, Layer
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QSizePolicy,
    QWidget,
)

from napari_mrisr._napari.layers import layer_data, layer_volume
from napari_mrisr.atomic import write_text
from napari_mrisr.progress import Progress
from napari_mrisr.volume.comparison import Comparison, iter_compare, slices_degradation
from napari_mrisr.volume.metrics import REGIONS, Table, table_csv

from .choices import image_layers, layer_combo, rebuild_choices
from .compare_grid import ComparisonGrid, diverging_colormap
from .layout import fit_scroll_width, scroll_layout
from .metrics_table import MetricsTable
from .run_controls import RunControls
from .state.compare import CompareState
from .worker import show_failure

if TYPE_CHECKING:
    import napari

__all__ = ["CompareWidget"]

#: Metadata key marking the layers a comparison made, so the next one replaces them.
RESULT_KEY = "mrisr_compare"


class CompareWidget(QWidget):
    """Pick LR, SR and (optionally) ground-truth layers; one click shows the whole comparison."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = CompareState()
        self.metrics: Table = {}  # the last comparison's metrics (empty without a ground truth)
        self.result_layers: list[Layer] = []
        self.grid_view = ComparisonGrid(viewer, on_legend=self._set_status)

        # Short labels keep the dock narrow (the canvas is what a radiologist looks at).
        self.lr = layer_combo(viewer, "LR")
        self.lr.tooltip = "The low-resolution input that was super-resolved."
        self.sr = layer_combo(viewer, "SR")
        self.sr.tooltip = "The super-resolved result to judge."
        self.gt = layer_combo(viewer, "GT", optional=True)
        self.gt.tooltip = (
            "Ground truth (optional): the high-resolution scan, for error maps and metrics"
        )
        self.region = ComboBox(label="region", choices=self._region_choices)
        self.region.tooltip = (
            "Where PSNR/SSIM/NRMSE are computed besides the whole volume: the ground truth's "
            "foreground (the whole head on a skull-on scan), or a mask layer such as a brain mask."
        )
        self.region_name = REGIONS[0]
        for combo in (self.lr, self.sr, self.gt, self.region):  # long names must not widen the dock
            combo.native.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.native.setMinimumContentsLength(18)
        self.controls = RunControls(run="Compare", cancel="", progress=False)
        self.compare_button, self.status = self.controls.run_button, self.controls.status
        # How the grid shows a comparison (the view, not the comparison: no need to compare again).
        self.error_maps = CheckBox(text="error maps", value=True)
        self.error_maps.tooltip = (
            "Show |SR - GT|, |cubic - GT|, SR - cubic and data consistency as cells; off, LR, SR, "
            "cubic and ground truth get the canvas."
        )
        self.zoom_detail = CheckBox(text="zoom on detail", value=False)
        self.zoom_detail.tooltip = (
            "Zoom every cell on the slice's most detailed part (where the ground truth has the "
            "most edges inside the head), a few screen pixels per voxel; off, the whole slice."
        )
        view = Container(
            widgets=[self.error_maps, self.zoom_detail], layout="horizontal", labels=False
        )
        self.export_button = PushButton(text="Export table (CSV)...")
        self.save_button = PushButton(text="Save view (PNG)...")
        self.table = MetricsTable()
        self.table.show_note("Compare to see PSNR, SSIM and NRMSE (these need a ground truth).")
        self.status.native.installEventFilter(self)

        self.container = Container(
            widgets=[self.lr, self.sr, self.gt, self.region, self.controls.buttons, view]
        )
        exports = Container(
            widgets=[self.export_button, self.save_button], layout="horizontal", labels=False
        )
        # The status is the scroll area's own row (not in a labelled form row): its wrapped
        # lines then get their height, and never overlap the table.
        self.status.native.setContentsMargins(6, 0, 6, 0)
        self.status.native.setMinimumWidth(120)  # wraps: its long lines must not widen the dock
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        policy.setHeightForWidth(True)
        self.status.native.setSizePolicy(policy)  # magicgui's labels are fixed-size
        self.status.native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # The form and its buttons stay in sight above the scrolling results (docks stacked in
        # napari's default window each get a third of its height).
        scroll_layout(
            self, self.status.native, self.table, exports.native, header=self.container.native
        )

        # The combos write the state; a new SR layer brings its family (prefill). Until the
        # user picks a layer here, every change of layers picks LR, SR and GT again.
        self._by_hand = self._rebuilding = False
        for name in ("lr", "sr", "gt", "region"):
            getattr(self, name).changed.connect(partial(setattr, self.state, name))
            getattr(self.state.events, name).connect(partial(self._show_choice, name))
        for combo in (self.lr, self.sr, self.gt):
            combo.changed.connect(self._picked)
        self.sr.changed.connect(self._prefill)
        viewer.layers.events.inserted.connect(self._on_inserted)
        self.compare_button.changed.connect(self.compare)
        self.error_maps.changed.connect(self.grid_view.set_show_maps)
        self.zoom_detail.changed.connect(self.grid_view.set_detail)
        self.export_button.changed.connect(self.export_table)
        self.save_button.changed.connect(self.save_view)
        self.state.region = self.region.value
        self._preselect()

    def _show_choice(self, name: str, layer) -> None:
        """Show the state's choice in its combo (if the combo offers it)."""
        combo = getattr(self, name)
        if layer in combo.choices and combo.value is not layer:
            with combo.changed.blocked():
                combo.value = layer

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self._fit_dock_width()

    def _fit_dock_width(self) -> None:
        """The dock as wide as its content (the metrics table's numbers whole): see :mod:`._fit`."""
        if self.metrics:
            self.table.fit_width()
        fit_scroll_width(self)

    # -- picking layers ---------------------------------------------------------------------
    def reset_choices(self, *_event) -> None:
        """Re-read the layer choices (napari calls this when layers change), and pick LR, SR
        and GT again unless the user has picked them (or what they picked is gone)."""
        self._rebuilding = True
        try:
            for combo in (self.lr, self.sr, self.gt, self.region):
                rebuild_choices(combo)
        finally:
            self._rebuilding = False
        if not self._by_hand or self.state.problem():
            self._preselect()

    def _picked(self, *_args) -> None:
        if not self._rebuilding:
            self._by_hand = True

    def _preselect(self) -> None:
        """Three different layers for LR, SR and GT where there are that many
        (:meth:`CompareState.preselect`); never this dock's own result layers."""
        layers = [layer for layer in image_layers(self.viewer) if RESULT_KEY not in layer.metadata]
        self.state.preselect(layers)

    def _region_choices(self, _widget=None) -> list[tuple[str, Layer | None]]:
        masks = [
            layer for layer in reversed(self.viewer.layers) if isinstance(layer, Labels | Image)
        ]
        masks = [layer for layer in masks if layer.ndim == 3 and RESULT_KEY not in layer.metadata]
        return [("foreground of the ground truth", None), *((layer.name, layer) for layer in masks)]

    def _on_inserted(self, event) -> None:
        """A new SR layer becomes the one to compare, with its LR and ground truth."""
        layer = event.value
        if (
            isinstance(layer, Image)
            and "model" in layer.metadata
            and RESULT_KEY not in layer.metadata
        ):
            self._by_hand = False  # the newest SR layer and its family, whatever was picked
            try:
                self.reset_choices()  # napari's own reset may come after this handler
            except RuntimeError:  # the widget is gone
                pass

    def _prefill(self, *_args) -> None:
        """Select the LR input and ground truth that the SR layer's metadata names."""
        self.state.prefill({layer.name: layer for layer in self.viewer.layers})

    # -- comparing --------------------------------------------------------------------------
    def compare(self) -> None:
        """Compute the comparison in a worker, then show it (replacing the previous one)."""
        state = self.state
        lr_layer, sr_layer, gt_layer = state.lr, state.sr, state.gt
        problem = state.problem()
        if problem:
            show_error(problem)
            return
        try:
            lr, sr = layer_volume(lr_layer), layer_volume(sr_layer)
            gt = layer_volume(gt_layer) if gt_layer is not None else None
            region = layer_volume(state.region) if state.region is not None else None
        except ValueError as exc:
            show_failure(exc, "Comparing")
            return
        degradation = lr_layer.metadata.get("degradation") or sr_layer.metadata.get("degradation")
        selfsr = (sr_layer.metadata.get("model_meta") or {}).get("selfsr")
        if degradation is None and selfsr:  # the slices self-supervised SR was trained for
            degradation = slices_degradation(selfsr)
        label = sr_layer.metadata.get("model", "SR")

        self.controls.start(
            lambda: iter_compare(
                lr, sr, gt, degradation=degradation, sr_label=label, region=region
            ),
            "Comparing",
            on_result=lambda result: self._show(result, lr_layer, sr_layer, gt_layer),
            status="comparing...",
            on_progress=self._on_progress,
            on_done=self._on_done,
        )

    @property
    def worker(self):
        """The running worker, or None."""
        return self.controls.job

    def _on_progress(self, event: Progress) -> None:
        if event.message and not event.warning:
            self._set_status(f"computing {event.message}...")

    def _on_done(self, ok: bool) -> None:
        if not ok:  # the error was shown; no step is running any more
            self._set_status("")

    def _show(self, result: Comparison, lr: Image, sr: Image, gt: Image | None) -> None:
        viewer = self.viewer
        for layer in self.result_layers:  # the previous comparison's layers, not the user's
            if layer in viewer.layers:
                viewer.layers.remove(layer)
        limits = result.intensity_limits
        with self.grid_view.foreign.adding():  # the next cells: not hidden as foreign layers
            cubic = self._add(
                layer_data(result.cubic, contrast_limits=limits, metadata={RESULT_KEY: "cubic"})
            )
            maps = [
                self._add(
                    layer_data(
                        m.volume,
                        colormap=diverging_colormap() if m.colormap == "diverging" else m.colormap,
                        contrast_limits=m.limits,
                        metadata={RESULT_KEY: m.key},
                        visible=self.grid_view.show_maps,
                    )
                )
                for m in result.maps
            ]
        self.result_layers = [cubic, *maps]
        kinds = [m.colormap for m in result.maps]
        signed = [layer for layer, kind in zip(maps, kinds, strict=True) if kind == "diverging"]
        for layer in (lr, sr, gt):
            if layer is not None:
                layer.contrast_limits = limits
        for layer in maps:
            layer.colorbar.position = "bottom_right"
            layer.colorbar.visible = True
        roles = {lr: "LR", sr: "SR", cubic: "cubic"}
        if gt is not None:
            roles[gt] = "ground truth"
        roles.update({layer: layer.name for layer in maps})
        limits_3d = {
            layer: m.limits_3d for layer, m in zip(maps, result.maps, strict=True) if m.limits_3d
        }
        self.grid_view.show(
            roles,
            signed,
            no_gt=gt is None,
            limits_3d=limits_3d,
            maps=maps,
            detail_source=gt if gt is not None else sr,
        )
        self.metrics, self.region_name = result.metrics, result.region
        if self.metrics:
            self.table.show_metrics(self.metrics, self.region_name)
            self._fit_dock_width()
        else:
            self.table.show_note("Metrics need a ground truth: pick one and compare again.")

    def _add(self, data: tuple) -> Layer:
        return self.viewer.add_layer(Layer.create(*data))

    def _set_status(self, text: str) -> None:
        self.status.value = text
        self._fit_status_height()

    def _fit_status_height(self) -> None:
        """Give the wrapped status line the height its text needs at its width.

        A scroll area sizes its content by minimum size hints, which ignore how many lines a
        word-wrapped label takes at its actual width: the label would overlap the table.
        """
        label = self.status.native
        label.setMinimumHeight(max(0, label.heightForWidth(label.width())) if label.text() else 0)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize and watched is self.status.native:
            self._fit_status_height()
        return super().eventFilter(watched, event)

    # -- table and exports ------------------------------------------------------------------
    def _ask_save_path(self, caption: str, file_filter: str, suffix: str) -> str:
        """The file the user picks to save to ('' if cancelled), with ``suffix`` added if absent."""
        path, _ = QFileDialog.getSaveFileName(self, caption, "", file_filter)
        if path and not path.lower().endswith(suffix):
            path += suffix
        return path

    def export_table(self) -> Path | None:
        """Write the metrics table as CSV (full precision)."""
        if not self.metrics:
            show_error("There are no metrics to export: compare with a ground truth first.")
            return None
        path = self._ask_save_path("Export metrics table", "CSV (*.csv)", ".csv")
        if not path:
            return None
        try:
            return write_text(path, table_csv(self.metrics, self.region_name))
        except OSError as exc:
            show_failure(exc, "Exporting the table")
            return None

    def save_view(self) -> Path | None:
        """Save the canvas (all grid cells, as shown) as a PNG."""
        path = self._ask_save_path("Save view", "PNG image (*.png)", ".png")
        if not path:
            return None
        try:
            self.viewer.screenshot(path, canvas_only=True)
        except (OSError, ValueError) as exc:
            show_failure(exc, "Saving the view")
            return None
        return Path(path)
