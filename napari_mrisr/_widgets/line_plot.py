"""A minimal live line plot painted with QPainter (no plotting dependency for two small charts)."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

__all__ = ["LinePlot"]

#: Colour-blind-safe colours (Okabe-Ito) for successive series.
COLORS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


class LinePlot(QWidget):
    """Lines of (x, y) points with auto-scaled axes, a legend, and optional log-scale y."""

    def __init__(self, title: str, log_y: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.log_y = log_y
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.styles: dict[str, Qt.PenStyle] = {}
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def clear(self) -> None:
        self.series.clear()
        self.update()

    def add_point(self, name: str, x: float, y: float, dashed: bool = False) -> None:
        if y is None or not math.isfinite(y) or (self.log_y and y <= 0):
            return
        self.series.setdefault(name, []).append((float(x), float(y)))
        self.styles[name] = Qt.DashLine if dashed else Qt.SolidLine
        self.update()

    def _y(self, y: float) -> float:
        return math.log10(y) if self.log_y else y

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        fg = self.palette().color(self.foregroundRole())
        p.setPen(fg)
        p.drawText(QRectF(0, 2, self.width(), 16), Qt.AlignHCenter, self.title)
        area = QRectF(52, 22, max(10, self.width() - 62), max(10, self.height() - 44))
        p.setPen(QPen(QColor(fg.red(), fg.green(), fg.blue(), 90)))
        p.drawRect(area)
        points = [pt for s in self.series.values() for pt in s]
        if not points:
            p.setPen(fg)
            p.drawText(area, Qt.AlignCenter, "waiting for data")
            return
        x0, x1 = min(x for x, _ in points), max(x for x, _ in points)
        ys = [self._y(y) for _, y in points]
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        pad = (y1 - y0) * 0.05
        y0, y1 = y0 - pad, y1 + pad

        def at(x: float, y: float) -> QPointF:
            return QPointF(
                area.left() + (x - x0) / (x1 - x0) * area.width(),
                area.bottom() - (self._y(y) - y0) / (y1 - y0) * area.height(),
            )

        p.setPen(fg)
        for value, align in ((y1, Qt.AlignTop), (y0, Qt.AlignBottom)):
            label = f"{10**value:.3g}" if self.log_y else f"{value:.4g}"
            p.drawText(QRectF(0, area.top() - 2 if align == Qt.AlignTop else area.bottom() - 14, 50, 16), Qt.AlignRight | align, label)
        p.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), 16), Qt.AlignLeft, f"{x0:g}")
        p.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), 16), Qt.AlignRight, f"step {x1:g}")
        pens = [
            QPen(QColor(COLORS[i % len(COLORS)]), 2, self.styles.get(name, Qt.SolidLine))
            for i, name in enumerate(self.series)
        ]
        for pen, series in zip(pens, self.series.values(), strict=True):
            p.setPen(pen)
            for a, b in zip(series, series[1:], strict=False):
                p.drawLine(at(*a), at(*b))
            if len(series) == 1:
                p.drawEllipse(at(*series[0]), 2, 2)
        backdrop = self.palette().color(self.backgroundRole())
        backdrop.setAlpha(210)  # the legend stays readable over the lines
        for i, (pen, name) in enumerate(zip(pens, self.series, strict=True)):
            y = area.top() + 4 + 14 * i
            p.fillRect(QRectF(area.left() + 3, y, 7 * len(name) + 30, 14), backdrop)
            p.setPen(pen)
            p.drawLine(QPointF(area.left() + 6, y + 7), QPointF(area.left() + 22, y + 7))
            p.setPen(fg)
            p.drawText(QRectF(area.left() + 26, y, area.width() - 30, 14), Qt.AlignLeft | Qt.AlignVCenter, name)
        p.end()
