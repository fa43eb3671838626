"""Command line: ``mrisr predict IN OUT`` and ``napari-mrisr demo`` (also ``python -m napari_mrisr``).

Bad input ends with exit code 2 and one sentence on stderr; the output file is written
atomically and an existing file (the input above all) is only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def best_bundled_model(method: str = "kspace", factors=(2, 2, 2)):
    """The bundled model for this degradation with the best validation PSNR (brain), or None."""
    from .zoo import list_models

    def psnr(info) -> float:
        validation = (info.meta.get("metrics") or {}).get("validation") or {}
        return (validation.get("model") or {}).get("psnr_brain", float("-inf"))

    candidates = [
        info
        for info in list_models()
        if info.bundled
        and (info.meta.get("degradation") or {}).get("method") == method
        and list((info.meta.get("degradation") or {}).get("factors", [])) == list(factors)
    ]
    return max(candidates, key=psnr, default=None)


def demo(screenshot: Path | None = None) -> int:
    """Open napari on the MNI152 sample: simulate LR x2, super-resolve it, compare.

    Uses the best bundled x2 model (the cubic baseline, labelled as such, if none ships) and the
    plugin's own dock widgets, so the window is what a user gets after three clicks.
    """
    import napari

    from . import sample
    from ._widgets._common import camera
    from ._widgets.compare import CompareWidget
    from ._widgets.load import LoadWidget
    from ._widgets.super_resolve import SuperResolveWidget
    from ._widgets.train import TrainWidget
    from .compare import intensity_limits
    from .layers import RADIOLOGICAL_ORIENTATION, layer_data
    from .pipeline import BASELINE, Method, SRResult, iter_run, load_and_simulate, result_layer_data

    viewer = napari.Viewer(title="napari-mrisr demo", show=True)
    viewer.window.resize(1700, 1000)
    (hr, hr_meta), (lr, lr_meta) = load_and_simulate(sample.mni152_hr(), simulate=True, factors=(2, 2, 2))
    limits = intensity_limits(hr)
    gt_layer = viewer.add_layer(napari.layers.Layer.create(*layer_data(hr, metadata=hr_meta, contrast_limits=limits)))
    lr_meta = {**lr_meta, "ground_truth": gt_layer.name}
    lr_layer = viewer.add_layer(napari.layers.Layer.create(*layer_data(lr, metadata=lr_meta, contrast_limits=limits)))

    info = best_bundled_model()
    method = Method(info.name, info.path) if info is not None else Method(BASELINE)
    print(f"super-resolving with {method.name}" + ("" if info else " (no bundled model: baseline)"))
    result = next(e for e in iter_run(lr, method, factors=(2, 2, 2)) if isinstance(e, SRResult))
    viewer.add_layer(
        napari.layers.Layer.create(*result_layer_data(result, lr_layer.name, lr_layer.metadata, contrast_limits=limits))
    )
    viewer.window.add_dock_widget(LoadWidget(viewer), name="Load volume", area="right")
    viewer.window.add_dock_widget(SuperResolveWidget(viewer), name="Super-resolve", area="right", tabify=True)
    viewer.window.add_dock_widget(TrainWidget(viewer), name="Train", area="right", tabify=True)
    compare = CompareWidget(viewer)
    viewer.window.add_dock_widget(compare, name="Compare", area="right", tabify=True)
    camera(viewer).orientation = RADIOLOGICAL_ORIENTATION
    viewer.dims.set_point(0, 10.0)  # an axial slice through the ventricles (z = 10 mm)

    def when_compared() -> None:
        for row in compare.rows:
            print(f"{row.method:>28} {row.region:>12}: PSNR {row.psnr:.2f} dB, SSIM {row.ssim:.4f}, NRMSE {row.nrmse:.4f}")
        if screenshot is not None:
            from qtpy.QtCore import QTimer

            def save_and_quit() -> None:
                viewer.screenshot(str(screenshot), canvas_only=False)
                print(f"saved {screenshot}")
                viewer.close()

            QTimer.singleShot(1500, save_and_quit)

    compare.compare()
    if compare.worker is not None:
        compare.worker.finished.connect(when_compared)
    else:  # pragma: no cover (compare refused its inputs; the error was shown)
        when_compared()
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
        best = best_bundled_model()
        args.model = (best or models[0]).name
        print(f"using model {args.model} (pass --model to choose)", file=sys.stderr)
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
