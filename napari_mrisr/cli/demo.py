"""``napari-mrisr demo``: napari on the MNI152 sample, then LR x2, super-resolution and Compare."""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["close_notifications", "demo"]


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


def demo(screenshot: Path | None = None) -> int:
    """Open napari on the MNI152 sample, then simulate LR x2, super-resolve it and compare.

    The window appears at once; the work runs in the plugin's own dock widgets, one worker
    after the other (Load, then Super-resolve with the best bundled x2 model, or the cubic
    baseline if none ships, then Compare), with their progress bars, so the window is what a
    user gets after three clicks and never freezes.
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
    load, sr, compare = LoadWidget(viewer), SuperResolveWidget(viewer), CompareWidget(viewer)
    viewer.window.add_dock_widget(load, name="Load volume", area="right")
    sr_dock = viewer.window.add_dock_widget(sr, name="Super-resolve", area="right", tabify=True)
    viewer.window.add_dock_widget(TrainWidget(viewer), name="Train", area="right", tabify=True)
    compare_dock = viewer.window.add_dock_widget(compare, name="Compare", area="right", tabify=True)
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
        for method, region, psnr, ssim, nrmse in table_rows(compare.metrics, compare.region_name):
            print(f"{method:>28} {region:>12}: PSNR {psnr:.2f} dB, SSIM {ssim:.4f}, NRMSE {nrmse:.4f}")
        print(
            "note: these figures cover the whole sample, about 85% of which the bundled models were "
            "trained on; the README's quality table scores the held-out slab only."
        )
        if screenshot is not None:
            from qtpy.QtCore import QTimer

            def save_and_quit() -> None:
                close_notifications()
                viewer.screenshot(str(screenshot), canvas_only=False)
                print(f"saved {screenshot}")
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
