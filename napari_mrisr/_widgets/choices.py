"""Choices of the viewer's layers in a dock's combo boxes, kept current and in order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox
from napari.layers import Image
from qtpy.QtWidgets import QComboBox

if TYPE_CHECKING:
    import napari

__all__ = ["image_layers", "layer_combo", "rebuild_choices", "replace_choices"]

MIN_CHARS = 18  # a layer combo's width in characters


def image_layers(viewer: napari.viewer.Viewer) -> list[Image]:
    """The viewer's 3D image layers, top of the layer list first (the most recent)."""
    return [
        layer for layer in reversed(viewer.layers) if isinstance(layer, Image) and layer.ndim == 3
    ]


def layer_combo(viewer: napari.viewer.Viewer, label: str, optional: bool = False) -> ComboBox:
    """A combo box of the viewer's 3D image layers, top first.

    Its widget's ``reset_choices`` keeps it current: napari calls ``reset_choices`` of every
    dock widget when layers are added, removed, moved or renamed. A long layer name does not
    widen the dock (the combo is about 18 characters wide; the open list shows names whole).
    """

    def choices(_widget) -> list[tuple[str, Image | None]]:
        items: list[tuple[str, Image | None]] = [
            (layer.name, layer) for layer in image_layers(viewer)
        ]
        return ([("(none)", None)] if optional else []) + items

    combo = ComboBox(label=label, choices=choices)
    policy = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    combo.native.setSizeAdjustPolicy(policy)
    combo.native.setMinimumContentsLength(MIN_CHARS)
    return combo


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


def replace_choices(combo: ComboBox, value) -> None:
    """Show a new list (a new search, another folder) with ``value`` chosen.

    The old choice is not kept even where its value is still a choice: a list of series is keyed
    by position, so position 2 of a new search is another series (of another patient, maybe).
    Every label is re-read (magicgui keeps an old label for an equal value), and ``changed``
    fires, so the dock's state and the list agree on what Open opens.
    """
    with combo.changed.blocked():
        combo.native.clear()
        combo.reset_choices()
        if value in combo.choices:
            combo.value = value
    combo.changed.emit(combo.value)
