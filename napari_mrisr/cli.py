"""Command line: ``napari-mrisr demo`` (also ``python -m napari_mrisr demo``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def demo(screenshot: Path | None = None) -> int:
    """Open napari on the MNI152 sample: GT, simulated LR x2, the cubic baseline and its error.

    No trained SR model ships yet, so the cubic-interpolation baseline stands in for one and
    is labelled as such; it is what every model has to beat.
    """
    import napari
    import numpy as np

    from . import metrics, sample
    from .geometry import crop_to_multiple
    from .interpolate import upsample
    from .io import Volume
    from .layers import RADIOLOGICAL_ORIENTATION, layer_data

    hr = sample.mni152_hr()
    lr = sample.mni152_lr_x2()
    cubic = upsample(lr, 2, order="cubic")
    cubic.name = "cubic baseline (no SR model yet)"
    gt = Volume(crop_to_multiple(hr.data, (2, 2, 2)), hr.affine, "ground truth (MNI152 T1)")
    mask = metrics.brain_mask(gt)
    error = Volume(np.abs(metrics.difference(cubic, gt)), gt.affine, "|cubic - ground truth|")
    summary = (
        f"cubic vs ground truth: PSNR {metrics.psnr(cubic, gt, mask=mask):.2f} dB, "
        f"SSIM {metrics.ssim(cubic, gt, mask=mask):.4f} (brain mask)"
    )
    print(summary)

    viewer = napari.Viewer(title=f"napari-mrisr demo: {summary}", show=True)
    viewer.window.resize(1500, 950)
    limits = (0.0, float(gt.data.max()))
    for volume in (gt, lr, cubic):
        viewer.add_layer(napari.layers.Layer.create(*layer_data(volume, contrast_limits=limits)))
    error_layer = napari.layers.Layer.create(
        *layer_data(error, colormap="inferno", contrast_limits=(0.0, limits[1] / 4))
    )
    viewer.add_layer(error_layer)
    error_layer.colorbar.visible = True
    for layer in viewer.layers:
        layer.name_overlay.visible = True
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.canvas.overlays.scale_bar.gridded = True
    viewer.grid.enabled = True
    viewer.grid.shape = (2, 2)
    viewer.camera.orientation = RADIOLOGICAL_ORIENTATION
    viewer.dims.set_point(0, 10.0)  # an axial slice through the ventricles (z = 10 mm)
    viewer.reset_view()
    if screenshot is not None:
        from qtpy.QtCore import QTimer

        def save_and_quit() -> None:
            viewer.screenshot(str(screenshot), canvas_only=False)
            print(f"saved {screenshot}")
            viewer.close()

        QTimer.singleShot(1500, save_and_quit)
    napari.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="napari-mrisr", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="open napari on the built-in MNI152 sample")
    demo_parser.add_argument("--screenshot", type=Path, help="save the window as PNG and quit")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.screenshot)
    return 2


if __name__ == "__main__":
    sys.exit(main())
