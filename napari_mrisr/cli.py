"""Command line: ``mrisr predict``/``selfsr``, ``napari-mrisr demo`` (``python -m napari_mrisr``).

Bad input ends with exit code 2 and one sentence on stderr; the output file is written
atomically and an existing file (the input above all) is only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import sys
from pathlib import Path


def best_bundled_model(method: str = "kspace", factors=(2, 2, 2), device: str = "auto"):
    """The bundled model for this degradation, or None: a full (``-full``) model on a GPU or a
    CPU with native bf16, else a compact one, and among those the best by validation PSNR
    (brain)."""
    from .inference import pick_device
    from .zoo import list_models, preference, runs_full_models

    full = runs_full_models(pick_device(device))
    candidates = [
        info
        for info in list_models()
        if info.bundled
        and (info.meta.get("degradation") or {}).get("method") == method
        and list((info.meta.get("degradation") or {}).get("factors", [])) == list(factors)
    ]
    return max(candidates, key=lambda info: preference(info.name, info.meta, full), default=None)


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

    from ._widgets.compare import CompareWidget
    from ._widgets.load import SAMPLE, LoadWidget
    from ._widgets.super_resolve import SuperResolveWidget
    from ._widgets.train import TrainWidget
    from .metrics import table_rows
    from .pipeline import BASELINE

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


def predict(args: argparse.Namespace) -> int:
    """Super-resolve one file with a trained model, with a progress bar."""
    import numpy as np
    from tqdm import tqdm

    from .atomic import check_writable
    from .fit import check_fit, iter_fitted
    from .inference import pick_device
    from .io import check_volume_path, load_volume, save_volume
    from .progress import Progress, run_to_end
    from .zoo import load_model

    volume = load_volume(args.input)  # the input first: a missing input is the first thing to say
    check_volume_path(args.output)
    if not args.force and args.input.resolve() == args.output.resolve():
        raise ValueError(f"{str(args.output)!r} is the input file; pass --force to overwrite it.")
    pick_device(args.device)  # an unknown device is refused before any work
    model_ref = args.model or _default_model()
    model, name = load_model(model_ref), Path(model_ref).stem
    check_fit(volume, model.meta, name)  # a scan the model does not fit is refused before any work
    output_bytes = volume.data.size * int(np.prod(model.scale)) * 4
    check_writable(args.output, output_bytes, replace=args.force)  # before the work, not after
    with tqdm(total=None, unit="tile", desc=f"super-resolving {args.input.name}") as bar:

        def show(event: Progress) -> None:
            if event.message:
                tqdm.write(event.message)
            elif event.total:
                bar.total = event.total
                bar.update(event.done - bar.n)

        work = iter_fitted(volume, model, name, device=args.device, tile=args.tile)
        sr = run_to_end(work, show)
    save_volume(sr, args.output, replace=args.force)
    print(f"wrote {args.output} ({' x '.join(map(str, sr.shape))} voxels)")
    return 0


def predict_cohort(args: argparse.Namespace) -> int:
    """Super-resolve many files into a folder, with a per-file summary (exit 1 if any failed)."""
    import torch
    from tqdm import tqdm

    from .cohort import cohort_inputs, iter_cohort, run_on_devices, summary
    from .inference import pick_device
    from .io import find_volumes, is_volume_path
    from .progress import run_to_end
    from .zoo import load_model

    if args.output.exists() and not args.output.is_dir():
        raise ValueError(f"{str(args.output)!r} is a file; several inputs need a folder for their outputs.")
    if not args.output.exists() and is_volume_path(args.output):
        raise ValueError(
            f"{str(args.output)!r} is named like a volume, but several inputs need a folder for their outputs."
        )
    inputs = cohort_inputs(find_volumes(args.inputs), args.output)
    device = pick_device(args.device)
    model_ref = args.model or _default_model()
    model = load_model(model_ref)  # refused here, once, before any file is touched
    args.output.mkdir(parents=True, exist_ok=True)
    gpus = torch.cuda.device_count() if device.type == "cuda" and device.index is None else 1
    print(f"{len(inputs)} file{'s' if len(inputs) != 1 else ''} -> {args.output} with {model.meta.get('name', model_ref)}", file=sys.stderr)
    with tqdm(total=len(inputs), unit="file") as bar:
        if gpus > 1:  # one process per GPU, each with its own copy of the model
            print(f"spreading the files over {gpus} GPUs", file=sys.stderr)
            outcomes = run_on_devices(
                inputs, args.output, model_ref, [f"cuda:{i}" for i in range(gpus)], args.tile,
                args.force, on_outcome=lambda o: (bar.update(1), bar.set_postfix_str(o.input.name)),
            )  # fmt: skip
        else:

            def show(event) -> None:
                if event.warning:
                    tqdm.write(event.message)
                else:
                    bar.update(event.done - bar.n)
                    bar.set_postfix_str(event.message)

            outcomes = run_to_end(iter_cohort(inputs, args.output, model, str(device), args.tile, args.force), show)
    print(summary(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def selfsr(args: argparse.Namespace) -> int:
    """Self-supervised SR of one anisotropic scan (trained on itself), with a progress bar."""
    from tqdm import tqdm

    from .atomic import check_writable
    from .inference import pick_device
    from .io import check_volume_path, load_volume, save_volume
    from .progress import Progress, run_to_end
    from .selfsr import iter_selfsr, plan_grid, save_selfsr_model
    from .zoo import SUFFIX

    volume = load_volume(args.input)
    grid = plan_grid(volume, spacing=args.spacing, thickness=args.thickness, profile=args.profile)
    outputs = [args.output, *([args.disagreement] if args.disagreement else [])]
    if len({path.resolve() for path in outputs}) < len(outputs):
        raise ValueError("--disagreement names the output file; give the disagreement map a file of its own.")
    if args.seed < 0:
        raise ValueError(f"--seed must be 0 or more, got {args.seed}.")
    for path in outputs:
        check_volume_path(path)
        if not args.force and path.resolve() == args.input.resolve():
            raise ValueError(f"{str(path)!r} is the input file; pass --force to overwrite it.")
    if args.save_model is not None and args.save_model.suffix != SUFFIX:
        raise ValueError(f"{args.save_model.name!r}: model files end in {SUFFIX}.")
    pick_device(args.device)  # an unknown device is refused before any work
    nbytes = volume.data.size // grid.n_lr * grid.n_out * 4
    for path in outputs:
        check_writable(path, nbytes, replace=args.force)
    if args.save_model is not None:
        check_writable(args.save_model, 0, replace=args.force)
    with tqdm(total=None, unit="step", desc=f"self-SR of {args.input.name}") as bar:

        def show(event: Progress) -> None:
            if event.warning:
                tqdm.write(event.message)
                return
            bar.total = event.total
            bar.update(event.done - bar.n)
            if event.message:
                bar.set_postfix_str(event.message, refresh=False)

        work = iter_selfsr(
            volume, args.budget, args.device, args.seed, args.spacing, args.thickness,
            args.profile, args.steps,
        )  # fmt: skip
        result = run_to_end(work, show)
    save_volume(result.sr, args.output, replace=args.force)
    if args.disagreement:
        save_volume(result.disagreement, args.disagreement, replace=args.force)
    if args.save_model is not None:
        save_selfsr_model(result.model, result.grid, args.save_model)
    print(f"wrote {args.output} ({' x '.join(map(str, result.sr.shape))} voxels)")
    return 0


def _add_selfsr_parser(commands) -> None:
    sub = commands.add_parser(
        "selfsr",
        help="super-resolve the slice axis of one anisotropic scan, trained on itself",
        description="Self-supervised SR (SMORE/ECLARE principle): a 2D network learns from the "
        "scan's own in-plane slices, degraded by its slice profile, and restores the through-plane "
        "axis (the largest spacing) to the in-plane spacing. No training set is needed.",
    )
    sub.add_argument("input", type=Path, help="the anisotropic volume (.nii, .nii.gz, .mgz, .mgh)")
    sub.add_argument("output", type=Path, help="the super-resolved volume")
    sub.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    sub.add_argument("--budget", default="fast", choices=["fast", "standard"],
                     help="fast: minutes on a laptop CPU (default); standard: larger, for a GPU")  # fmt: skip
    sub.add_argument("--thickness", type=float, help="slice thickness in mm (default: the spacing)")
    sub.add_argument("--profile", default="rect", choices=["rect", "gaussian"], help="slice profile")
    sub.add_argument("--spacing", type=float, help="output spacing in mm (default: in-plane)")
    sub.add_argument("--disagreement", type=Path, help="also write the orientations' disagreement map")
    sub.add_argument("--save-model", type=Path, help="save the per-scan model (.safetensors)")
    sub.add_argument("--steps", type=int, help="training steps (default: the budget's)")
    sub.add_argument("--force", action="store_true", help="overwrite existing output files")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _default_model() -> str:
    from .zoo import list_models

    best = best_bundled_model() or next(iter(list_models()), None)
    if best is None:
        raise ValueError("No trained model is installed; pass --model with a .safetensors file.")
    print(f"using model {best.name} (pass --model to choose)", file=sys.stderr)
    return best.name


def one_line_warnings(prog: str) -> None:
    """Show this package's warnings as ``PROG: warning: <sentence>``, not with a source line."""
    import warnings

    from .io import VolumeWarning
    from .zoo import ModelFileWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (VolumeWarning, ModelFileWarning)):
            print(f"{prog}: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _validation_noise(degradation: dict) -> str:
    """Training validates with half the configured noise: say so, the scores are lower for it."""
    noise = float(degradation.get("noise") or 0) / 2
    return f" ({noise:.0%} noise)" if noise else ""


def list_models_table() -> str:
    """The installed models, one per line: what each expects and how it scored."""
    from .zoo import list_models

    lines = []
    for info in list_models():
        degradation = info.meta.get("degradation") or {}
        validation = ((info.meta.get("metrics") or {}).get("validation") or {}).get("model") or {}
        psnr = validation.get("psnr_brain")
        lines.append(
            f"{info.name:<24} {'bundled' if info.bundled else 'user':<8} "
            f"x{'x'.join(map(str, info.meta['scale'])):<8} {degradation.get('method', '?'):<14} "
            + (f"val PSNR {psnr:.2f} dB{_validation_noise(degradation)}  " if psnr is not None else "")
            + str(info.path)
        )
    return "\n".join(lines) or "No model installed."


def main(argv: list[str] | None = None) -> int:
    prog = Path(sys.argv[0]).name if Path(sys.argv[0]).name in ("mrisr", "napari-mrisr") else "mrisr"
    one_line_warnings(prog)
    parser = argparse.ArgumentParser(prog=prog, description="3D MRI super-resolution.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="open napari on the built-in MNI152 sample")
    demo_parser.add_argument("--screenshot", type=Path, help="save the window as PNG and quit")
    commands.add_parser("models", help="list the installed models (bundled, then yours)")
    run = commands.add_parser(
        "predict",
        help="super-resolve a NIfTI/MGZ file, or many into a folder",
        description="One file: mrisr predict IN OUT. A cohort: mrisr predict IN... OUT_DIR, where "
        "each IN is a file, a folder or a glob; outputs that exist are skipped (resume), a bad "
        "file is reported and the rest go on; exit code 1 if any file failed.",
    )
    run.add_argument("inputs", nargs="+", type=Path, help="low-resolution volumes (.nii, .nii.gz, .mgz, .mgh), folders or globs")
    run.add_argument("output", type=Path, help="the SR volume, or a folder for several inputs")
    run.add_argument("--model", help="model name (see `mrisr models`) or .safetensors file")
    run.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    run.add_argument("--tile", type=int, help="tile edge in LR voxels (default: by device)")
    run.add_argument("--force", action="store_true", help="overwrite an existing output file")
    _add_selfsr_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.screenshot)
    if args.command == "models":
        try:
            print(list_models_table(), flush=True)
        except BrokenPipeError:  # `mrisr models | head`: the reader left, which is no error
            sys.stdout = None  # nothing more to flush at exit
        return 0
    cohort = False
    try:
        if args.command == "selfsr":
            return selfsr(args)
        from .io import is_volume_path

        one, out = args.inputs[0], args.output
        literal = one.is_file() or not glob.has_magic(str(one))  # 'scan[1].nii.gz' may be a file
        if len(args.inputs) == 1 and not one.is_dir() and literal and (
            not out.is_dir() or is_volume_path(out)  # a folder named like a volume is in the way
        ):
            args.input = args.inputs[0]
            return predict(args)
        cohort = True
        return predict_cohort(args)
    except (ValueError, OSError) as exc:  # VolumeError and ModelError are ValueErrors
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if cohort:
            print(f"{prog}: interrupted; the files finished before are kept, the one in progress was "
                  "not written (the same command resumes).", file=sys.stderr)  # fmt: skip
        else:
            print(f"{prog}: interrupted; nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
