"""Docks in napari's default window: stacked, every dock's run controls stay in sight."""

from __future__ import annotations

import pytest


def inside_window(widget, window) -> bool:
    """Whether ``widget`` is shown, not zero-sized, and wholly inside ``window``."""
    from qtpy.QtCore import QPoint, QRect

    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return False
    top_left = widget.mapTo(window, QPoint(0, 0))
    return window.rect().contains(QRect(top_left, widget.size()))


@pytest.mark.parametrize("window_size", [None, (1280, 800)], ids=["napari-default", "1280x800"])
def test_three_docks_opened_from_the_plugins_menu_keep_their_run_controls_in_sight(
    make_napari_viewer, qtbot, window_size
):
    # Load, Super-resolve and Self-supervised SR, as the Plugins menu opens them: stacked
    # vertically in the right area, each a third of the window's height.
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    hint = window.layout().sizeHint()  # the window napari opens at the first time
    size = window_size or (hint.width(), hint.height())
    viewer.window.resize(*size)
    names = ["Load volume", "Super-resolve", "Self-supervised SR (this scan)"]
    widgets = [viewer.window.add_plugin_dock_widget("napari-mrisr", name)[1] for name in names]
    qtbot.wait(300)  # the docks laid out
    assert (window.width(), window.height()) == size  # the docks never make the window taller
    for widget in widgets:
        controls = widget.controls
        parts = [controls.run_button, controls.progress, controls.cancel_button]
        for part in (p.native for p in parts if p.visible):
            assert inside_window(part, window), (type(widget).__name__, part)
        status = controls.status.native  # empty now: its row is there, below the buttons
        assert status.isVisible() and window.rect().contains(
            status.mapTo(window, status.rect().topLeft())
        )
    # Each Run button (Load's is "Load") is a button one can click: not covered by another dock.
    for widget in widgets:
        button = widget.controls.run_button.native
        centre = button.mapTo(window, button.rect().center())
        assert window.childAt(centre) is button
