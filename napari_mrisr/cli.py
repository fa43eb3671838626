"""Command line: ``mrisr predict IN OUT`` and ``napari-mrisr demo`` (also ``python -m napari_mrisr``).

Bad input ends with exit code 2 and one sentence on stderr; the output file is written
atomically and an existing file (the input above all) is only replaced with ``--force``.
"""

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


def predict(args: argparse.Namespace) -> int:
    """Super-resolve one file with a trained model, with a progress bar."""
    from tqdm import tqdm

    from .inference import iter_super_resolve
    from .io import Volume, check_volume_path, load_volume, save_volume
    from .zoo import list_models, load_model

    check_volume_path(args.output)
    if args.output.exists() and not args.force:
        same = args.input.exists() and args.output.resolve() == args.input.resolve()
        what = "is the input file" if same else "already exists"
        raise ValueError(f"{str(args.output)!r} {what}; pass --force to overwrite it.")
    if args.model is None:
        models = list_models()
        if not models:
            raise ValueError("No trained model is installed; pass --model with a .safetensors file.")
        args.model = models[0].name
    model = load_model(args.model)
    volume = load_volume(args.input)
    with tqdm(total=None, unit="tile", desc=f"super-resolving {args.input.name}") as bar:
        for event in iter_super_resolve(volume, model, device=args.device, tile=args.tile):
            if isinstance(event, Volume):
                save_volume(event, args.output)
            elif event.message:
                tqdm.write(event.message)
            else:
                bar.total = event.total
                bar.update(event.done - bar.n)
    print(f"wrote {args.output} ({' x '.join(map(str, event.shape))} voxels)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mrisr", description="3D MRI super-resolution.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="open napari on the built-in MNI152 sample")
    demo_parser.add_argument("--screenshot", type=Path, help="save the window as PNG and quit")
    run = commands.add_parser("predict", help="super-resolve a NIfTI/MGZ file")
    run.add_argument("input", type=Path, help="low-resolution volume (.nii, .nii.gz, .mgz)")
    run.add_argument("output", type=Path, help="where to write the SR volume")
    run.add_argument("--model", help="model name (see list_models) or .safetensors file")
    run.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    run.add_argument("--tile", type=int, help="tile edge in LR voxels (default: by device)")
    run.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.screenshot)
    try:
        return predict(args)
    except (ValueError, OSError) as exc:  # VolumeError and ModelError are ValueErrors
        print(f"mrisr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
