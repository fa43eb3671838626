"""``napari-mrisr demo``: napari on the MNI152 sample, then LR x2, super-resolution and Compare."""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["arrange_window", "close_notifications", "demo"]


def close_notifications() -> None:
    """Close napari's notification toasts (e.g. its PyQt5 deprecation warning).

    A toast fades only once its window has been active; under Xvfb, with no window manager,
    none ever is, so the toast would cover the canvas's bottom row in every saved screenshot.
    The messages were printed to the terminal as well.
    """
    with contextlib.suppress(ImportError, AttributeError):  # napari-private; best effort
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in list(NapariQtNotification._instances):
            toast.close()


def arrange_window(viewer, docks, size: tuple[int, int] | None = None) -> None:
    """The canvas first: our ``docks`` and napari's layer list and layer controls as tabs of one
    column on the right, as narrow as its widest dock allows; the window ``size`` (pixels), if
    given. Two dock columns would leave the canvas a strip between them in napari's default
    window, and a grid of thumbnails in it."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QTabWidget

    qt_viewer = viewer.window._qt_viewer  # napari-private; best effort, the docks stay usable
    window = viewer.window._qt_window
    napari_docks = [
        getattr(qt_viewer, name, None) for name in ("dockLayerList", "dockLayerControls")
    ]
    for dock in [*docks[1:], *(d for d in napari_docks if d is not None)]:
        with contextlib.suppress(AttributeError, RuntimeError, TypeError):
            window.tabifyDockWidget(docks[0], dock)
    # The tabs down the column's outer edge: six whole names fit there, not along its foot.
    window.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea, QTabWidget.TabPosition.East)
    if size is not None:
        window.layout().activate()  # the tabbed column's minimum size, before resizing to it
        viewer.window.resize(*size)
    window.resizeDocks(docks[:1], [1], Qt.Orientation.Horizontal)  # its minimum width


def demo(screenshot: Path | None = None, window: tuple[int, int] | None = None) -> int:
    """Open napari on the MNI152 sample, then simulate LR x2, super-resolve it and compare.

    The window appears at once; the work runs in the plugin's own dock widgets, one worker
    after the other (Load, then Super-resolve with the best bundled x2 model, or the cubic
    baseline if none ships, then Compare), with their progress bars, so the window is what a
    user gets after three clicks and never freezes. The docks are tabs of one column, and the
    Compare grid shows LR, cubic, SR and ground truth zoomed on the slice's most detailed part;
    its dock's "error maps" box adds the error maps, "zoom on detail" shows the whole slice.

    ``window`` is the window's size (pixels); by default the one napari opens at the first
    time (a user's saved size otherwise), and that first-time size for a ``screenshot``.
    """
    import napari

    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.load import SAMPLE, LoadWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr._widgets.train import TrainWidget
    from napari_mrisr.predict.method import BASELINE
    from napari_mrisr.volume.metrics import table_rows
    from napari_mrisr.zoo.model_choice import best_bundled_model

    viewer = napari.Viewer(title="napari-mrisr demo", show=True)
    qt_window = viewer.window._qt_window
    if window is None and screenshot is not None:  # napari's first-time size, not a saved one
        hint = qt_window.layout().sizeHint()
        window = (hint.width(), hint.height())
    load, sr, compare = LoadWidget(viewer), SuperResolveWidget(viewer), CompareWidget(viewer)
    compare.error_maps.value = False  # LR, cubic, SR and ground truth get the canvas...
    compare.zoom_detail.value = True  # ... zoomed so that what SR adds is visible
    load_dock = viewer.window.add_dock_widget(load, name="Load volume", area="right")
    sr_dock = viewer.window.add_dock_widget(sr, name="Super-resolve", area="right", tabify=True)
    train_dock = viewer.window.add_dock_widget(
        TrainWidget(viewer), name="Train", area="right", tabify=True
    )
    compare_dock = viewer.window.add_dock_widget(compare, name="Compare", area="right", tabify=True)
    docks = [load_dock, sr_dock, train_dock, compare_dock]
    arrange_window(viewer, docks, window)
    load_dock.raise_()
    info = best_bundled_model()
    model_name = info.name if info is not None else BASELINE
    print(f"super-resolving with {model_name}" + ("" if info else " (no bundled model: baseline)"))

    def then(widget, step) -> None:
        if widget.worker is not None:
            widget.worker.finished.connect(step)

    def super_resolve() -> None:
        if len(viewer.layers) < 2:  # loading failed; the error was shown
            return
        sr.input.value = viewer.layers[-1]  # the LR layer
        sr.model.value = next(c for c in sr.model.choices if getattr(c, "name", None) == model_name)
        viewer.dims.set_point(0, 10.0)  # an axial slice through the ventricles (z = 10 mm)
        sr_dock.raise_()
        sr.run()
        then(sr, run_compare)

    def run_compare() -> None:
        compare_dock.raise_()  # the Compare tab comes forward
        compare.compare()
        then(compare, report)

    def report() -> None:
        arrange_window(viewer, docks, window)  # the metrics table may have widened the column
        compare_dock.raise_()
        for method, region, psnr, ssim, nrmse in table_rows(compare.metrics, compare.region_name):
            print(
                f"{method:>28} {region:>12}: PSNR {psnr:.2f} dB, SSIM {ssim:.4f}, NRMSE {nrmse:.4f}"
            )
        print(
            "note: these figures cover the whole sample, about 85% of which the bundled models "
            "were trained on; the README's quality table scores the held-out slab only."
        )
        if screenshot is not None:
            from qtpy.QtCore import QTimer

            def save_and_quit() -> None:
                close_notifications()
                viewer.screenshot(str(screenshot), canvas_only=False)
                print(f"saved {screenshot} ({qt_window.width()} x {qt_window.height()})")
                viewer.close()

            QTimer.singleShot(1500, save_and_quit)

    load.source.value = SAMPLE
    load.simulate.value = True
    load.method.value = "kspace"
    for spin in load.factors:
        spin.value = 2
    load.load()
    then(load, super_resolve)
    napari.run()
    return 0
