"""Compare widget: LR, SR, cubic baseline and ground truth side by side, with maps and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, PushButton
from napari.layers import Image, Labels, Layer
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from .._orientation import show_mri
from ..atomic import write_text
from ..compare import Comparison, iter_compare
from ..layers import layer_data
from ..metrics import REGIONS, Table, table_csv, table_rows
from ..progress import Progress
from ._common import (
    camera,
    grid,
    layer_combo,
    layer_volume,
    rebuild_choices,
    scroll_layout,
    show_failure,
    start_worker,
    status_label,
)

if TYPE_CHECKING:
    import napari

__all__ = ["CompareWidget"]

#: Metadata key marking the layers a comparison made, so the next one replaces them.
RESULT_KEY = "mrisr_compare"

COLUMNS = ("method", "region", "PSNR (dB)", "SSIM", "NRMSE")

#: Colour-bar width in pixels; each grid cell keeps a strip this wide (plus its ticks) free.
COLORBAR_PX = 10
_FORMATS = ("{:.2f}", "{:.4f}", "{:.4f}")
_RESIZE = (
    QHeaderView.ResizeMode.ResizeToContents,
    QHeaderView.ResizeMode.ResizeToContents,
    QHeaderView.ResizeMode.Stretch,
)


def diverging_colormap():
    """Blue - black - red: zero is black like the background of every other cell.

    Rather than "bwr", whose white zero turns a signed map into a glaring white square
    beside dark MR images, and hides small differences against it.
    """
    from napari.utils.colormaps import Colormap

    return Colormap(
        [[0.3, 0.65, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.4, 0.25, 1.0]],
        name="blue-black-red",
        display_name="blue-black-red (diverging)",
    )


def grid_shape(
    n: int, canvas_hw: tuple[float, float], image_hw: tuple[float, float]
) -> tuple[int, int]:
    """Rows and columns that show ``n`` images of aspect ``image_hw`` largest on the canvas."""

    def zoom(rows: int) -> float:
        cols = -(-n // rows)
        return min(canvas_hw[0] / rows / image_hw[0], canvas_hw[1] / cols / image_hw[1])

    rows = max(range(1, n + 1), key=zoom)
    return rows, -(-n // rows)


def canvas_size(viewer: napari.viewer.Viewer) -> tuple[int, int]:
    """The canvas (height, width) in pixels (``viewer.canvas.size`` since napari 0.9)."""
    canvas = getattr(viewer, "canvas", None)
    size = getattr(canvas, "size", None)
    return tuple(size) if size else (800, 600)


class CompareWidget(QWidget):
    """Pick LR, SR and (optionally) ground-truth layers; one click shows the whole comparison."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.worker = None
        self.metrics: Table = {}  # the last comparison's metrics (empty without a ground truth)
        self.result_layers: list[Layer] = []

        self.lr = layer_combo(viewer, "LR input")
        self.sr = layer_combo(viewer, "SR result")
        self.gt = layer_combo(viewer, "ground truth", optional=True)
        self.region = ComboBox(label="metrics region", choices=self._region_choices)
        self.region.tooltip = (
            "Where PSNR/SSIM/NRMSE are computed besides the whole volume: the ground truth's "
            "foreground (the whole head on a skull-on scan), or a mask layer such as a brain mask."
        )
        self.region_name = REGIONS[0]
        for combo in (self.lr, self.sr, self.gt, self.region):  # long names must not widen the dock
            combo.native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.native.setMinimumContentsLength(18)
        self.compare_button = PushButton(text="Compare")
        self.status = status_label()
        self.export_button = PushButton(text="Export table (CSV)...")
        self.save_button = PushButton(text="Save view (PNG)...")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(150)
        self.table.setMaximumHeight(190)  # a header and four rows; the view gets the rest
        self._show_table_note("Compare to see PSNR, SSIM and NRMSE (these need a ground truth).")

        self.container = Container(
            widgets=[self.lr, self.sr, self.gt, self.region, self.compare_button, self.status]
        )
        exports = Container(
            widgets=[self.export_button, self.save_button], layout="horizontal", labels=False
        )
        scroll_layout(self, self.container.native, self.table, exports.native)

        self.sr.changed.connect(self._prefill)
        viewer.layers.events.inserted.connect(self._on_inserted)
        self.compare_button.changed.connect(self.compare)
        self.export_button.changed.connect(self.export_table)
        self.save_button.changed.connect(self.save_view)
        latest = next((c for c in self.sr.choices if c is not None and "model" in c.metadata), None)
        if latest is not None:
            self.sr.value = latest
        self._prefill()

    # -- picking layers ---------------------------------------------------------------------
    def reset_choices(self, *_event) -> None:
        """Re-read the layer choices (napari calls this when layers change)."""
        for combo in (self.lr, self.sr, self.gt, self.region):
            rebuild_choices(combo)

    def _region_choices(self, _widget=None) -> list[tuple[str, Layer | None]]:
        masks = [layer for layer in reversed(self.viewer.layers) if isinstance(layer, Labels | Image)]
        masks = [layer for layer in masks if layer.ndim == 3 and RESULT_KEY not in layer.metadata]
        return [("foreground of the ground truth", None), *((layer.name, layer) for layer in masks)]

    def _on_inserted(self, event) -> None:
        """A new SR layer becomes the one to compare, with its LR and ground truth."""
        layer = event.value
        if isinstance(layer, Image) and "model" in layer.metadata and RESULT_KEY not in layer.metadata:
            try:
                self.reset_choices()  # napari's own reset may come after this handler
                self.sr.value = layer
            except (ValueError, RuntimeError):  # not a choice yet, or the widget is gone
                pass

    def _prefill(self, *_args) -> None:
        """Select the LR input and ground truth that the SR layer's metadata names."""
        sr = self.sr.value
        if sr is None:
            return
        by_name = {layer.name: layer for layer in self.viewer.layers}
        lr = by_name.get(sr.metadata.get("input"))
        gt = by_name.get(sr.metadata.get("ground_truth"))
        if lr in self.lr.choices:
            self.lr.value = lr
        if gt in self.gt.choices:
            self.gt.value = gt

    # -- comparing --------------------------------------------------------------------------
    def compare(self) -> None:
        """Compute the comparison in a worker, then show it (replacing the previous one)."""
        lr_layer, sr_layer, gt_layer = self.lr.value, self.sr.value, self.gt.value
        if lr_layer is None or sr_layer is None:
            show_error("Pick an LR layer and an SR layer to compare.")
            return
        if lr_layer is sr_layer or gt_layer in (lr_layer, sr_layer):
            show_error("Pick different layers for LR, SR and ground truth.")
            return
        try:
            lr, sr = layer_volume(lr_layer), layer_volume(sr_layer)
            gt = layer_volume(gt_layer) if gt_layer is not None else None
            region = layer_volume(self.region.value) if self.region.value is not None else None
        except ValueError as exc:
            show_failure(exc, "Comparing")
            return
        degradation = lr_layer.metadata.get("degradation") or sr_layer.metadata.get("degradation")
        label = sr_layer.metadata.get("model", "SR")

        self.compare_button.enabled = False
        self.worker = start_worker(
            lambda: iter_compare(lr, sr, gt, degradation=degradation, sr_label=label, region=region),
            "Comparing",
            on_result=lambda result: self._show(result, lr_layer, sr_layer, gt_layer),
            on_progress=self._on_progress,
            on_done=self._on_done,
        )

    def _on_progress(self, event: Progress) -> None:
        if event.message and not event.warning:
            self.status.value = f"computing {event.message}..."

    def _on_done(self, ok: bool) -> None:
        self.worker = None
        self.compare_button.enabled = True
        if not ok:  # the error was shown; no step is running any more
            self.status.value = ""

    def _show(self, result: Comparison, lr: Image, sr: Image, gt: Image | None) -> None:
        viewer = self.viewer
        for layer in self.result_layers:  # the previous comparison's layers, not the user's
            if layer in viewer.layers:
                viewer.layers.remove(layer)
        limits = result.intensity_limits
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
                )
            )
            for m in result.maps
        ]
        self.result_layers = [cubic, *maps]
        for layer in (lr, sr, gt):
            if layer is not None:
                layer.contrast_limits = limits
        shown = [lr, sr, cubic, *([gt] if gt is not None else []), *maps]
        for layer in maps:
            layer.colorbar.size = (COLORBAR_PX, 70)
            layer.colorbar.position = "bottom_right"
            layer.colorbar.visible = True
        self._arrange(shown)
        self.metrics, self.region_name = result.metrics, result.region
        self._fill_table()
        # Long layer names are cut in the grid cells' titles: say which cell is which.
        roles = ["LR", "SR", "cubic", *(["ground truth"] if gt is not None else [])]
        roles += [m.name for m in maps]
        self.status.value = "Grid, row by row: " + " | ".join(roles) + (
            "" if gt is not None else " (no ground truth: no error maps)"
        )

    def _add(self, data: tuple) -> Layer:
        return self.viewer.add_layer(Layer.create(*data))

    def _arrange(self, shown: list[Layer]) -> None:
        """Grid of ``shown`` in reading order (top of the layer list top left); hide the rest."""
        viewer = self.viewer
        for layer in reversed(shown):
            viewer.layers.move(viewer.layers.index(layer), len(viewer.layers))
        for layer in viewer.layers:
            layer.visible = layer in shown
            layer.name_overlay.visible = layer in shown
        extent = np.asarray(shown[-1].extent.world)  # (min, max) x (S, A, R) in mm
        image_hw = tuple(extent[1, 1:] - extent[0, 1:])  # an axial slice: A-P tall, R-L wide
        grid(viewer).stride = -1  # the top of the layer list is the top-left cell, as listed
        grid(viewer).enabled = True
        grid(viewer).shape = grid_shape(len(shown), canvas_size(viewer), image_hw)
        grid(viewer).spacing = 10  # pixels: the cells read as separate images
        viewer.canvas.overlays.scale_bar.visible = True
        viewer.canvas.overlays.scale_bar.gridded = True
        show_mri(viewer)
        viewer.reset_view()
        rows, cols = grid(viewer).shape
        cell_w = canvas_size(viewer)[1] / cols
        # Titles: as large as fits the narrowest cell (whole names, not cut), within 7-10 pt.
        longest = max(len(layer.name) for layer in shown)
        for layer in shown:
            layer.name_overlay.font_size = float(np.clip(cell_w / (0.75 * longest), 7, 10))
        # Leave a strip at the right of each cell for the colour bars, beside the image: zoom
        # out a little and move the images left by half the strip.
        strip = COLORBAR_PX + 34  # the bar and its tick labels
        cam = camera(viewer)
        cam.zoom *= max(0.6, 1 - strip / cell_w)
        center = list(cam.center)
        center[-1] += strip / 2 / cam.zoom * (-1 if str(cam.orientation[-1]) == "left" else 1)
        cam.center = tuple(center)

    # -- table and exports ------------------------------------------------------------------
    def _fill_table(self) -> None:
        if not self.metrics:
            self._show_table_note("Metrics need a ground truth: pick one and compare again.")
            return
        self.table.clearSpans()
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):  # names as wide as they need, numbers share the rest
            header.setSectionResizeMode(column, _RESIZE[min(column, 2)])
        rows = list(table_rows(self.metrics, self.region_name))
        self.table.setRowCount(len(rows))
        for r, (method, region, *values) in enumerate(rows):
            numbers = [f.format(v) for f, v in zip(_FORMATS, values, strict=True)]
            cells = [method, region, *numbers]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setData(Qt.ItemDataRole.UserRole, values[c - 2])  # full precision
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()

    def _show_table_note(self, text: str) -> None:
        self.table.clearContents()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setRowCount(1)
        self.table.setSpan(0, 0, 1, len(COLUMNS))
        self.table.setItem(0, 0, QTableWidgetItem(text))
        self.table.resizeRowsToContents()

    def _ask_save_path(self, caption: str, file_filter: str, suffix: str) -> str:
        """The file the user picks to save to ('' if cancelled), with ``suffix`` added if missing."""
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
