"""Small pieces every widget shares: image-layer choices, layer <-> volume, one-sentence errors,
and :func:`start_worker`, the one place a core generator is run in a napari worker."""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Label
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_warning

from ..io import Volume
from ..layers import volume_from_layer
from ..progress import Progress

if TYPE_CHECKING:
    import napari


def image_layers(viewer: napari.viewer.Viewer) -> list[Image]:
    """The viewer's 3D image layers, top of the layer list first (the most recent)."""
    return [layer for layer in reversed(viewer.layers) if isinstance(layer, Image) and layer.ndim == 3]


def layer_volume(layer: Image) -> Volume:
    """The layer as a :class:`Volume` in its file's axis order, at its world geometry (mm)."""
    return volume_from_layer(layer.data, layer.as_layer_data_tuple()[1])


def layer_combo(viewer: napari.viewer.Viewer, label: str, optional: bool = False) -> ComboBox:
    """A combo box of the viewer's 3D image layers, top first.

    Its widget's ``reset_choices`` keeps it current: napari calls ``reset_choices`` of every
    dock widget when layers are added, removed, moved or renamed.
    """

    def choices(_widget) -> list[tuple[str, Image | None]]:
        items: list[tuple[str, Image | None]] = [(layer.name, layer) for layer in image_layers(viewer)]
        return ([("(none)", None)] if optional else []) + items

    return ComboBox(label=label, choices=choices)


def scroll_layout(parent, *children) -> None:
    """Stack ``children`` in ``parent`` inside a vertical scroll area.

    A dock widget's minimum height is then small, so several docks never make napari's window
    taller than the screen: a tall widget scrolls instead.
    """
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    from ._fit import fit_when_shown

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
    from qtpy.QtCore import Qt

    label = Label(value="")
    label.native.setWordWrap(True)
    label.native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return label


def rebuild_choices(combo: ComboBox) -> None:
    """Re-read a combo's choices in their listed order, keeping its value if it is still there.

    magicgui's ``reset_choices`` appends new choices at the end; rebuilding keeps the order the
    choices function gives (top layer first, bundled models first). ``changed`` fires only if
    the value had to change.
    """
    current = combo.value
    with combo.changed.blocked():
        combo.native.clear()
        combo.reset_choices()
        if current in combo.choices:
            combo.value = current
    if combo.value is not current:
        combo.changed.emit(combo.value)


def camera(viewer: napari.viewer.Viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if hasattr(scene, "camera") else viewer.camera


def grid(viewer: napari.viewer.Viewer):
    """The grid settings (``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before)."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if hasattr(canvas, "grid") else viewer.grid


def show_failure(exc: BaseException, what: str) -> None:
    """One sentence for the user: the error's own message for expected errors, else what failed."""
    if isinstance(exc, (ValueError, OSError)):  # VolumeError and ModelError are ValueErrors
        show_error(str(exc))
    else:
        show_error(f"{what} failed: {type(exc).__name__}: {exc}")


#: Workers started by :func:`start_worker` and not yet finished.
_running = 0


@dataclass(frozen=True)
class _Failed:
    """What a worker returns when its work raised: the error, reported in the GUI thread."""

    error: BaseException


def start_worker(
    work: Callable[[], Generator[Progress, Any, Any]],
    what: str,
    on_result: Callable[[Any], Any],
    on_progress: Callable[[Progress], Any] | None = None,
    on_done: Callable[[bool], Any] | None = None,
):
    """Run a core generator in a napari worker thread: the one place widgets wire workers.

    Each :class:`Progress` goes to a progress bar in napari's activity dock and to
    ``on_progress``; a warning becomes a notification. The generator's return value goes to
    ``on_result``. Any exception, even one superqt would swallow (a RuntimeError such as an
    out-of-memory), is caught inside the worker and shown as one sentence. ``on_done(ok)``
    runs last in every case (``ok`` is False after an error or a cancel), so buttons and
    status lines never stay "running". Returns the started worker (``.quit()`` cancels after
    the current step).

    While any worker runs, the objects that existed when it started are left out of Python's
    garbage collection (``gc.freeze``): a full collection walks all of napari's, Qt's and
    torch's objects (about 600,000), which holds the GIL for 250-450 ms in whichever thread
    triggers it and stalls the event loop mid-run. Garbage among them waits until the last
    worker finishes.
    """
    global _running
    _running += 1
    gc.freeze()
    bar = progress(total=0, desc=what)
    state: dict[str, Any] = {"ok": False, "closed": False, "latest": None, "drawing": False}

    def guarded() -> Generator[Progress, Any, Any]:
        try:
            return (yield from work())
        except Exception as exc:  # noqa: BLE001 (reported to the user in the GUI thread)
            return _Failed(exc)

    def yielded(event: Progress) -> None:
        # napari's activity-dock bar runs the event loop on each update, so the next events
        # (even the result) can be handled inside this call: the widget hears of each event
        # first and in order, and the bar only ever draws the latest one.
        if on_progress is not None:
            on_progress(event)
        if event.warning:
            show_warning(event.message)
        elif event.total:
            state["latest"] = event
            if not state["drawing"]:
                state["drawing"] = True
                try:
                    draw_latest()
                finally:
                    state["drawing"] = False

    def draw_latest() -> None:
        drawn = None
        while not state["closed"] and state["latest"] is not drawn:
            drawn = state["latest"]
            if bar.total != drawn.total:
                bar.total = drawn.total
            if drawn.message:
                bar.set_description(f"{what}: {drawn.message}")
            bar.update(drawn.done - bar.n)

    def returned(result: Any) -> None:
        if isinstance(result, _Failed):
            show_failure(result.error, what)
            return
        state["ok"] = True
        on_result(result)

    def finished() -> None:
        global _running
        try:
            state["closed"] = True
            bar.close()
            if on_done is not None:
                on_done(state["ok"])
        finally:
            _running -= 1
            if not _running:
                gc.unfreeze()

    return thread_worker(
        guarded,
        connect={"yielded": yielded, "returned": returned, "finished": finished},
    )()
