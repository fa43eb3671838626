"""Small pieces every widget shares: image-layer choices, layer <-> volume, one-sentence errors."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Label
from napari.layers import Image
from napari.utils.notifications import show_error

from ..io import Volume
from ..layers import volume_from_layer

if TYPE_CHECKING:
    import napari


def image_layers(viewer: napari.viewer.Viewer) -> list[Image]:
    """The viewer's 3D image layers, top of the layer list first (the most recent)."""
    return [layer for layer in reversed(viewer.layers) if isinstance(layer, Image) and layer.ndim == 3]


def layer_volume(layer: Image) -> Volume:
    """The layer as a :class:`Volume` in its file's axis order, at its world geometry (mm)."""
    return volume_from_layer(layer.data, layer.as_layer_data_tuple()[1])


def layer_combo(viewer: napari.viewer.Viewer, label: str, optional: bool = False) -> ComboBox:
    """A combo box of the viewer's image layers that follows layers being added, removed or renamed."""

    def choices(_widget) -> list[tuple[str, Image | None]]:
        items: list[tuple[str, Image | None]] = [(layer.name, layer) for layer in image_layers(viewer)]
        return ([("(none)", None)] if optional else []) + items

    combo = ComboBox(label=label, choices=choices)
    follow_layers(viewer, lambda: rebuild_choices(combo))
    return combo


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


def follow_layers(viewer: napari.viewer.Viewer, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the viewer's layer list or a layer's name changes."""

    def update(_event=None) -> None:
        try:
            callback()
        except RuntimeError:  # the widget's Qt object is gone (viewer closing): nothing to update
            pass

    def on_inserted(event) -> None:
        event.value.events.name.connect(update)
        update()

    for layer in viewer.layers:
        layer.events.name.connect(update)
    viewer.layers.events.inserted.connect(on_inserted)
    viewer.layers.events.removed.connect(update)
    viewer.layers.events.moved.connect(update)


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


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a small text file under its final name only once it is complete."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
