"""How a dock is laid out: a scrolling column as wide as its content, its run controls pinned
below it, and word-wrapped labels.

:func:`scroll_layout` sets the scroll area's minimum width from the content when the widget is
built, before napari's style sheet grows fonts and padding; the content would then be wider
than the dock and cut at its right edge (the area scrolls vertically only). ``scroll_layout``
refits each dock when it is shown (:func:`fit_when_shown`); a widget whose content grows later
calls :func:`fit_scroll_width` again.

A dock's Run/Cancel, progress and status are pinned below the scroll area (``pinned``): with
several docks stacked in napari's default window each gets a third of its height, and controls
inside the scrolling form would be scrolled out of sight.
"""

from __future__ import annotations

from magicgui.widgets import Container, Label
from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtWidgets import QDockWidget, QFrame, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

__all__ = ["fit_scroll_width", "fit_when_shown", "pinned_rows", "scroll_layout", "status_label"]


def fit_scroll_width(widget: QWidget) -> None:
    """Give ``widget``'s scroll area the minimum width its styled content needs."""
    area = widget.findChild(QScrollArea)
    if area is None or area.widget() is None:
        return
    bar = area.verticalScrollBar()  # napari's style sheet may also give the area a frame
    content = area.widget().minimumSizeHint().width()
    needed = content + bar.sizeHint().width() + 2 * area.frameWidth()
    if area.minimumWidth() == needed:
        return
    area.setMinimumWidth(needed)
    # A dock's layout sets the dock's minimum size (Qt's SetMinAndMaxSize) and never computes
    # one below the dock's minimum: a dock once wide (a long status) would stay wide after its
    # content narrowed. Let the dock's layout compute it afresh from the content.
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    if parent is not None and parent.layout() is not None:
        widget.updateGeometry()
        parent.setMinimumWidth(0)
        parent.layout().activate()


class _FitOnShow(QObject):
    """Refits its parent's scroll area when the parent is shown or the content's layout changes."""

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Show and watched is self.parent():
            fit_scroll_width(watched)
        elif event.type() == QEvent.Type.LayoutRequest and watched is not self.parent():
            fit_scroll_width(self.parent())  # the content changed: narrower, or wider
        return False


def fit_when_shown(widget: QWidget, content: QWidget | None = None) -> None:
    """Refit ``widget``'s scroll area each time it is shown (napari's style sheet is on it then)
    and each time its ``content``'s layout changes (a long status once there, then shorter)."""
    fit = _FitOnShow(widget)  # parented: lives as long as the widget
    widget.installEventFilter(fit)
    if content is not None:
        content.installEventFilter(fit)


class _FormArea(QScrollArea):
    """A scroll area as tall as its content where there is room: Qt caps a scroll area's size
    hint at 24 lines, and the rows pinned below would float away from a longer form."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        if self.widget() is not None:
            hint.setHeight(self.widget().sizeHint().height() + 2 * self.frameWidth())
        return hint


def scroll_layout(
    parent, *children, pinned: QWidget | None = None, header: QWidget | None = None
) -> None:
    """Stack ``children`` in ``parent`` inside a vertical scroll area, ``header`` above it and
    ``pinned`` below it, both outside it.

    A dock widget's minimum height is then small, so several docks never make napari's window
    taller than the screen: a tall widget scrolls instead, and its ``header`` and ``pinned``
    rows (the run controls) stay in sight. With room to spare, ``pinned`` follows the form.
    """
    inner = QWidget()
    column = QVBoxLayout(inner)
    for child in children:
        column.addWidget(child)
    column.addStretch()
    area = _FormArea() if pinned is not None else QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(inner)
    # Vertical scrolling only: the dock keeps the width its content needs.
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    bar = area.verticalScrollBar().sizeHint().width()
    area.setMinimumWidth(inner.minimumSizeHint().width() + bar)
    outer = QVBoxLayout(parent)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.setSpacing(0)
    for fixed in (header, pinned):
        if fixed is not None:  # always its full height: the scroll area gives way
            fixed.setSizePolicy(fixed.sizePolicy().horizontalPolicy(), QSizePolicy.Policy.Fixed)
    if header is not None:
        outer.addWidget(header)
    if pinned is None:
        outer.addWidget(area, 1)
    else:
        area.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        outer.addWidget(area)
        outer.addWidget(pinned)
        outer.addStretch(1)
    fit_when_shown(parent, inner)  # napari's style sheet, applied later, makes it wider


def pinned_rows(*widgets) -> QWidget:
    """magicgui ``widgets`` as unlabelled rows, to pin below a dock's scroll area: tight, as
    three docks stacked in napari's default window each have a third of its height."""
    rows = Container(widgets=list(widgets), labels=False)
    rows.margins = (9, 2, 9, 2)
    rows.native.layout().setSpacing(2)
    for widget in widgets:
        if isinstance(widget, Container):  # a row of buttons: no margins of its own
            widget.margins = (0, 0, 0, 0)
    return rows.native


def status_label() -> Label:
    """A left-aligned, word-wrapped label: long layer names must not widen the dock."""
    label = Label(value="")
    label.native.setWordWrap(True)
    # magicgui's Label is fixed to the width of its first text: a longer status then wrapped
    # inside that width and its last line was cut off. Take the row's width, and the height the
    # wrapped text needs.
    label.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    label.native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return label
