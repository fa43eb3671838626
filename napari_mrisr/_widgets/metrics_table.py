"""The Compare dock's metrics table: PSNR, SSIM and NRMSE per method and region, in a narrow dock."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from napari_mrisr.volume.metrics import Table, table_rows

__all__ = ["COLUMNS", "MetricsTable"]

COLUMNS = ("method", "region", "PSNR\n(dB)", "SSIM", "NRMSE")  # two-line header: a narrow dock

_FORMATS = ("{:.2f}", "{:.4f}", "{:.4f}")
_RESIZE = (  # method: the rest (its name elided in the middle); region: wrapped; numbers: whole
    QHeaderView.ResizeMode.Stretch,
    QHeaderView.ResizeMode.Fixed,
    QHeaderView.ResizeMode.ResizeToContents,
)


class MetricsTable(QTableWidget):
    """A header and a few rows: each number whole (its full precision in the item's data)."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMinimumHeight(150)
        self.setMaximumHeight(190)  # a header and four rows; the view gets the rest

    def show_metrics(self, metrics: Table, region: str) -> None:
        """One row per method and region (:func:`~napari_mrisr.volume.metrics.table_rows`)."""
        self.clearSpans()
        header = self.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, _RESIZE[min(column, 2)])
        rows = list(table_rows(metrics, region))
        words = [word for row in rows for word in row[1].split()]
        font = self.fontMetrics()
        header.resizeSection(1, min(120, max(font.horizontalAdvance(w) for w in words) + 14))
        self.setRowCount(len(rows))
        for r, (method, region_name, *values) in enumerate(rows):
            numbers = [f.format(v) for f, v in zip(_FORMATS, values, strict=True)]
            for c, text in enumerate([method, region_name, *numbers]):
                item = QTableWidgetItem(text)
                if c < 2:
                    item.setToolTip(text)  # a long model or mask name is elided or wrapped
                else:
                    item.setData(Qt.ItemDataRole.UserRole, values[c - 2])  # full precision
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        self.resizeRowsToContents()

    def show_note(self, text: str) -> None:
        """One line across the table (e.g. why there are no metrics)."""
        self.clearContents()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setRowCount(1)
        self.setSpan(0, 0, 1, len(COLUMNS))
        self.setItem(0, 0, QTableWidgetItem(text))
        self.resizeRowsToContents()

    def fit_width(self) -> None:
        """At least as wide as the numbers whole and about 12 characters of the method's name."""
        header = self.horizontalHeader()
        fixed = sum(header.sectionSize(c) for c in range(1, len(COLUMNS)))
        method = self.fontMetrics().horizontalAdvance("mni-x2-iso-g")
        self.setMinimumWidth(fixed + method + 2 * self.frameWidth())
