"""How a dock is laid out: a scrolling column as wide as its content, and word-wrapped labels.

:func:`scroll_layout` sets the scroll area's minimum width from the content when the widget is
built, before napari's style sheet grows fonts and padding; the content would then be wider
than the dock and cut at its right edge (the area scrolls vertically only). ``scroll_layout``
refits each dock when it is shown (:func:`fit_when_shown`); a widget whose content grows later
calls :func:`fit_scroll_width` again.
"""

from __future__ import annotations

from magicgui.widgets import Label
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

__all__ = ["fit_scroll_width", "fit_when_shown", "scroll_layout", "status_label"]


def fit_scroll_width(widget: QWidget) -> None:
    """Give ``widget``'s scroll area the minimum width its styled content needs."""
    area = widget.findChild(QScrollArea)
    if area is None or area.widget() is None:
        return
    bar = area.verticalScrollBar()  # napari's style sheet may also give the area a frame
    content = area.widget().minimumSizeHint().width()
    needed = content + bar.sizeHint().width() + 2 * area.frameWidth()
    area.setMinimumWidth(needed)


class _FitOnShow(QObject):
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Show:
            fit_scroll_width(watched)
        return False


def fit_when_shown(widget: QWidget) -> None:
    """Refit ``widget``'s scroll area each time it is shown (napari's style sheet is on it then)."""
    widget.installEventFilter(_FitOnShow(widget))  # parented: lives as long as the widget


def scroll_layout(parent, *children) -> None:
    """Stack ``children`` in ``parent`` inside a vertical scroll area.

    A dock widget's minimum height is then small, so several docks never make napari's window
    taller than the screen: a tall widget scrolls instead.
    """
    inner = QWidget()
    column = QVBoxLayout(inner)
    for child in children:
        column.addWidget(child)
    column.addStretch()
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(inner)
    # Vertical scrolling only: the dock keeps the width its content needs.
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(inner.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    outer = QVBoxLayout(parent)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    fit_when_shown(parent)  # napari's style sheet, applied later, makes the content wider


def status_label() -> Label:
    """A left-aligned, word-wrapped label: long layer names must not widen the dock."""
    label = Label(value="")
    label.native.setWordWrap(True)
    label.native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return label
