"""A dock as wide as its content once napari's style sheet has drawn it.

:func:`~napari_mrisr._widgets._common.scroll_layout` sets the scroll area's minimum width from
the content when the widget is built, before napari's style sheet grows fonts and padding; the
content is then wider than the dock and cut at its right edge (the area scrolls vertically only).
``scroll_layout`` refits each dock when it is shown (:func:`fit_when_shown`); a widget whose
content grows later calls :func:`fit_scroll_width` again.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QScrollArea, QWidget

__all__ = ["fit_scroll_width", "fit_when_shown"]


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
