"""Screenshots of the dock widgets after a realistic flow on the MNI152 sample and a real scan.

    QT_API=pyqt6 xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots.py \
        [--real-scan-only | --refusal-only | --only=compare,train,...]

(Qt6: napari 0.9 shows a deprecation banner under PyQt5.) Then the Train widget, and the
Self-supervised SR widget on dipy's real 4 x 4 x 5 mm head (if dipy is installed; a
benchmark-only dependency): before the run with its estimated slice profile, mid-run, and its
result in a coronal view.

Load (MNI152, simulated LR x2 k-space) -> Super-resolve with the model the demo would run here
(``cli.best_bundled_model``) -> Compare. Last, Super-resolve on a scan the chosen model does not fit
(``super_resolve_refusal.png``). Without any model, a small edsr3d (residual over trilinear
upsampling) is fitted for 600 steps on LR/HR patches of the sample itself ("demo-edsr3d-x2"); it only
stands in for a trained model so that the screenshots show a real comparison.

``--only=compare,train`` retakes only the named screenshots (load, super_resolve, compare,
train, selfsr, super_resolve_refusal; the flow before them still runs). The
Compare step also shows the Compare dock alone, as opened from the Plugins menu, in a
1280 x 800 window (compare_1280x800.png) and in napari's first-run window size
(compare_default_window.png): the dock must fit both.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs"
MODEL_NAME = "demo-edsr3d-x2"


def fit_demo_model(steps: int = 600) -> torch.nn.Module:
    """A small edsr3d fitted with L1 on random patches of the MNI152 LR x2 / HR pair.

    600 steps (2-5 minutes on 2 CPU cores) bring it about 0.8 dB above the cubic baseline
    in the brain mask; it has seen this very volume, so its numbers say nothing about quality.
    """
    from napari_mrisr.engine.inference import intensity_range
    from napari_mrisr.models import build_model
    from napari_mrisr.volume.geometry import crop_to_multiple
    from napari_mrisr.volume.sample import mni152_hr, mni152_lr_x2

    lr = mni152_lr_x2().data
    hr = crop_to_multiple(mni152_hr().data, (2, 2, 2))
    low, high = intensity_range(lr)  # the normalisation inference applies
    lr_n, hr_n = (lr - low) / (high - low), (hr - low) / (high - low)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("edsr3d", 2, features=16, num_blocks=2, input_skip=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    size, start = 16, time.perf_counter()
    for _ in range(steps):
        batch_lr, batch_hr = [], []
        for _ in range(4):
            i, j, k = (rng.integers(8, n - size - 8) for n in lr.shape)
            batch_lr.append(lr_n[i : i + size, j : j + size, k : k + size])
            hr_box = tuple(slice(2 * a, 2 * (a + size)) for a in (i, j, k))
            batch_hr.append(hr_n[hr_box])
        x = torch.from_numpy(np.stack(batch_lr))[:, None]
        y = torch.from_numpy(np.stack(batch_hr))[:, None]
        loss = torch.nn.functional.l1_loss(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    elapsed = time.perf_counter() - start
    print(f"demo model: {steps} steps in {elapsed:.0f} s, last L1 {loss.item():.2e}")
    return model.eval()


ONLY = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--only=")), None)


def wanted(name: str) -> bool:
    return ONLY is None or name in ONLY


def main() -> int:
    # The fitted model is kept in the temporary folder, so re-taking screenshots is quick.
    models = Path(tempfile.gettempdir()) / "mrisr-demo-models"
    os.environ["NAPARI_MRISR_MODELS"] = str(models)
    from napari_mrisr.zoo.folders import list_models
    from napari_mrisr.zoo.model_file import save_model

    if not list_models():  # no bundled model: fit the stand-in
        save_model(fit_demo_model(), models / f"{MODEL_NAME}.safetensors")
    from napari_mrisr.zoo.model_choice import best_bundled_model

    best = best_bundled_model()  # what the demo runs on this machine
    model_name = best.name if best is not None else list_models()[0].name
    print(f"model: {model_name}")

    import napari
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_mrisr._widgets.compare import CompareWidget
    from napari_mrisr._widgets.load import SAMPLE, LoadWidget
    from napari_mrisr._widgets.selfsr import SelfSRWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr._widgets.train import TrainWidget

    viewer = napari.Viewer(show=True, title="napari-mrisr")
    viewer.window.resize(1280, 800)  # a common laptop screen; the Compare grid must work here
    loop = QEventLoop()

    def spin(seconds: float) -> None:
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait(widget, until=lambda: False) -> None:
        spin(0.2)
        while widget.worker is not None and not until():
            spin(0.2)

    docks = {}
    widgets = [
        ("Load volume", LoadWidget),
        ("Super-resolve", SuperResolveWidget),
        ("Compare", CompareWidget),
        ("Train", TrainWidget),
        ("Self-supervised SR", SelfSRWidget),
    ]
    for name, cls in widgets:
        widget = cls(viewer)
        docks[name] = (widget, viewer.window.add_dock_widget(widget, name=name, area="right", tabify=True))
        docks[name][1].setMinimumWidth(430)  # (compare_alone shows a dock at its own width)

    def show_only(name: str) -> None:
        docks[name][1].raise_()  # its tab comes forward

    def shot(name: str, path: Path) -> None:
        if not wanted(path.stem.removeprefix("widget_")):
            return
        show_only(name)
        spin(1.0)
        viewer.screenshot(str(path), canvas_only=False)
        print(f"saved {path}")

    if "--real-scan-only" in sys.argv:
        real_scan(viewer, docks["Self-supervised SR"][0], show_only, shot, wait)
        viewer.close()
        return 0
    if "--refusal-only" in sys.argv:
        refusal(viewer, docks["Super-resolve"][0], show_only, spin)
        viewer.close()
        return 0

    load, _ = docks["Load volume"]
    load.source.value = SAMPLE
    load.simulate.value = True
    load.method.value = "kspace"
    for spin_box in load.factors:
        spin_box.value = 2
    load.load_button.native.click()
    wait(load)
    viewer.dims.set_point(0, 10.0)  # an axial slice through the ventricles (z = 10 mm)
    shot("Load volume", DOCS / "widget_load.png")

    sr, _ = docks["Super-resolve"]
    sr.refresh_models()
    sr.input.value = viewer.layers[-1]
    sr.model.value = next(c for c in sr.model.choices if getattr(c, "name", None) == model_name)
    sr.device.value = "cpu"
    show_only("Super-resolve")
    sr.run_button.native.click()
    if wanted("super_resolve"):
        wait(sr, until=lambda: sr.progress.value >= sr.progress.max // 2 > 0)  # mid-run: progress shows
    shot("Super-resolve", DOCS / "widget_super_resolve.png")
    wait(sr)

    compare, _ = docks["Compare"]
    compare.compare_button.native.click()
    wait(compare)
    viewer.dims.set_point(0, 10.0)
    shot("Compare", DOCS / "widget_compare.png")
    if wanted("compare"):
        compare_alone(viewer, spin, wait)
    shot("Train", DOCS / "widget_train.png")
    if wanted("selfsr"):
        real_scan(viewer, docks["Self-supervised SR"][0], show_only, shot, wait)
    if wanted("super_resolve_refusal"):
        refusal(viewer, docks["Super-resolve"][0], show_only, spin)
    viewer.close()
    return 0


def compare_alone(source, spin, wait) -> None:
    """The Compare dock alone (as the Plugins menu opens it) on the same layers, in a 1280 x 800
    window and in the window napari opens at first run (its layout's size hint)."""
    import napari
    from napari.layers import Layer

    from napari_mrisr._widgets.compare import CompareWidget

    family = [layer for layer in source.layers if "mrisr_compare" not in layer.metadata]
    for path, size in [(DOCS / "compare_1280x800.png", (1280, 800)), (DOCS / "compare_default_window.png", None)]:
        viewer = napari.Viewer(show=True, title="napari-mrisr")
        window = viewer.window._qt_window
        width, height = size or (window.layout().sizeHint().width(), window.layout().sizeHint().height())
        viewer.window.resize(width, height)
        for layer in family:
            viewer.add_layer(Layer.create(*layer.as_layer_data_tuple()))
        widget = CompareWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Compare", area="right")
        widget.compare_button.native.click()
        wait(widget)
        viewer.dims.set_point(0, 10.0)
        spin(1.0)
        viewer.screenshot(str(path), canvas_only=False)
        print(f"saved {path} ({window.width()} x {window.height()})")
        viewer.close()


def refusal(viewer, widget, show_only, spin) -> None:
    """Super-resolve on an isotropic 2 mm scan just after the x4 through-plane model was chosen
    for a thick-slice one: the choice moves to the x2 model, the hint says why, and the open
    model list shows the x4 models greyed out. The whole screen is grabbed (cropped to the
    window) because the list is a separate popup window."""
    from napari.layers import Layer
    from qtpy.QtWidgets import QApplication

    from napari_mrisr._napari.layers import layer_data
    from napari_mrisr._napari.orientation import show_mri
    from napari_mrisr._napari.viewer import grid
    from napari_mrisr.volume.sample import mni152_lr_thick_x4, mni152_lr_x2

    thick_model = next((c for c in widget.model.choices if "x4" in getattr(c, "name", "")), None)
    if thick_model is None:
        print("no x4 model installed: no refusal screenshot")
        return
    grid(viewer).enabled = False
    viewer.dims.ndisplay, viewer.dims.order = 2, (0, 1, 2)  # axial, after the real scan's coronal
    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    thick = viewer.add_layer(Layer.create(*layer_data(mni152_lr_thick_x4())))
    iso = viewer.add_layer(Layer.create(*layer_data(mni152_lr_x2())))
    thick.visible = False
    show_mri(viewer)  # radiological view with side labels, as File > Open shows a scan
    viewer.reset_view()
    show_only("Super-resolve")
    widget.input.value = thick
    widget.model.value = thick_model
    widget.input.value = iso  # the x4 model does not fit: the widget explains and moves on
    spin(1.0)
    widget.model.native.showPopup()
    spin(1.0)
    frame = viewer.window._qt_window.frameGeometry()
    screen = QApplication.primaryScreen()
    image = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    path = DOCS / "super_resolve_refusal.png"
    image.save(str(path))
    widget.model.native.hidePopup()
    print(f"saved {path}")


def real_scan(viewer, widget, show_only, shot, wait) -> None:
    """Self-supervised SR of dipy's real anisotropic head, opened as File > Open would."""
    try:
        import dipy
    except ImportError:
        print("dipy is not installed: no self-supervised screenshots")
        return
    scan = Path(dipy.__file__).parent / "data" / "files" / "aniso_vox.nii.gz"
    from napari_mrisr.selfsr.train import BUDGETS, BudgetName

    # 500 of the fast budget's steps: the screenshot shows the flow, the benchmark the quality.
    BUDGETS[BudgetName.FAST] = dataclasses.replace(BUDGETS[BudgetName.FAST], steps=500)
    from napari_mrisr._napari.viewer import grid

    grid(viewer).enabled = False
    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    (layer,) = viewer.open(scan, plugin="napari-mrisr")
    viewer.reset_view()
    show_only("Self-supervised SR")
    widget.input.value = layer
    from qtpy.QtWidgets import QApplication

    while not widget.state.ready:  # the slice profile is estimated in a worker thread
        QApplication.processEvents()
        time.sleep(0.05)
    shot("Self-supervised SR", DOCS / "widget_selfsr_estimate.png")  # the estimated slice profile
    widget.run_button.native.click()
    wait(widget, until=lambda: widget.progress.value >= widget.progress.max // 3 > 0)
    shot("Self-supervised SR", DOCS / "widget_selfsr.png")
    wait(widget)
    sr, disagreement = viewer.layers[-2:]
    disagreement.visible = True
    viewer.dims.order = (1, 0, 2)  # coronal: the slider runs A-P, the slice axis (S-I) is vertical
    grid(viewer).enabled = True
    grid(viewer).stride = 1  # the bottom of the layer list first: input, SR, disagreement
    grid(viewer).shape = (3, 1)  # stacked: the canvas is tall and narrow beside the docks
    for shown in (layer, sr, disagreement):
        shown.name_overlay.visible = True
    disagreement.colorbar.visible = True
    disagreement.colorbar.position = "bottom_right"
    viewer.reset_view()
    shot("Self-supervised SR", DOCS / "selfsr_real_scan.png")


if __name__ == "__main__":
    sys.exit(main())
