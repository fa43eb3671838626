"""Command line: ``mrisr predict``/``selfsr``/``models``, ``napari-mrisr demo`` (``python -m napari_mrisr``).

Bad input ends with exit code 2 and one sentence on stderr; the output file is written
atomically and an existing file (the input above all) is only replaced with ``--force``.
Each command's module is imported only when it runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import glob
import signal
import sys
import threading
from pathlib import Path

from napari_mrisr.console import one_line_warnings

from .selfsr import add_selfsr_parser

__all__ = ["main", "parser"]

PROGS = ("mrisr", "napari-mrisr")


def parser(prog: str = "mrisr") -> argparse.ArgumentParser:
    """The argument parser of every command (the docs' CLI reference is generated from it)."""
    from napari_mrisr import __version__

    p = argparse.ArgumentParser(prog=prog, description="3D MRI super-resolution.")
    p.add_argument("--version", action="version", version=f"napari-mrisr {__version__}")
    commands = p.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="open napari on the built-in MNI152 sample")
    demo.add_argument("--screenshot", type=Path, help="save the window as PNG and quit")
    demo.add_argument(
        "--window", type=_window_size, metavar="WxH", help="window size in pixels, e.g. 1280x800"
    )
    commands.add_parser("models", help="list the installed models (bundled, then yours)")
    run = commands.add_parser(
        "predict",
        help="super-resolve a NIfTI/MGZ file or a DICOM series, or many files into a folder",
        description="One scan: mrisr predict IN OUT, where IN is a NIfTI/MGZ file or a DICOM "
        "series (its folder or DICOMDIR) and OUT a file, or for a DICOM series a new folder that "
        "receives the result as a derived series. A cohort: mrisr predict IN... OUT_DIR, where "
        "each IN is a file, a folder or a glob; outputs that exist are skipped (resume), a bad "
        "file is reported and the rest go on; exit code 1 if any file failed.",
    )
    run.add_argument("inputs", nargs="+", type=Path, help="low-resolution volumes (.nii, .nii.gz, .mgz, .mgh) or a DICOM series folder, folders or globs")
    run.add_argument("output", type=Path, help="the SR volume, a new folder for a DICOM series, or a folder for several inputs")
    run.add_argument("--dicom-out", type=Path, metavar="DIR", help="also write the result as a DICOM series into this new folder (DICOM input)")
    run.add_argument("--model", help="model name (see `mrisr models`) or .safetensors file")
    run.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    run.add_argument("--tile", type=int, help="tile edge in LR voxels (default: by device)")
    run.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_selfsr_parser(commands)
    for command in (run, commands.choices["selfsr"]):
        command.add_argument(
            "--threads",
            type=int,
            help="CPU threads, kept as given (default: the cores this process may use, its "
            "affinity and CPU quota; self-SR's training then drops threads while cores are busy)",
        )
    return p


def _window_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is no window size such as 1280x800") from None
    if width < 200 or height < 200:
        raise argparse.ArgumentTypeError(f"{text!r} is too small a window (200x200 at least)")
    return width, height


def _models() -> int:
    from .models import list_models_table

    try:
        print(list_models_table(), flush=True)
    except BrokenPipeError:  # `mrisr models | head`: the reader left, which is no error
        sys.stdout = None  # nothing more to flush at exit
    return 0


def _predict(args: argparse.Namespace) -> int:
    """One file, or a cohort (several inputs, a folder, a glob, or an output folder)."""
    from napari_mrisr.dicom.scan import is_dicom_input
    from napari_mrisr.volume.io import is_volume_path

    from .predict import predict, predict_cohort

    one, out = args.inputs[0], args.output
    if len(args.inputs) == 1 and is_dicom_input(one):  # one scan: a DICOM series
        args.input = one
        return predict(args)
    if len(args.inputs) == 1 and one.is_dir() and is_volume_path(one) and is_volume_path(out):
        raise ValueError(f"{str(one)!r} is a folder, not a NIfTI/MGZ file.")
    literal = one.is_file() or not glob.has_magic(str(one))  # 'scan[1].nii.gz' may be a file
    if len(args.inputs) == 1 and not one.is_dir() and literal and (
        not out.is_dir() or is_volume_path(out)  # a folder named like a volume is in the way
    ):
        args.input = args.inputs[0]
        return predict(args)
    args.cohort = True
    return predict_cohort(args)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the output in progress is not written, and its temporary
    file is removed on the way out."""


def _terminate(_signum, _frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    prog = Path(sys.argv[0]).name if Path(sys.argv[0]).name in PROGS else "mrisr"
    one_line_warnings(prog)
    args = parser(prog).parse_args(argv)
    if args.command == "demo":
        from .demo import demo

        return demo(args.screenshot, window=args.window)
    if args.command == "models":
        return _models()
    if threading.current_thread() is not threading.main_thread():
        return _run(args, prog)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args, prog)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, prog: str) -> int:
    """``predict`` or ``selfsr``: bad input is one sentence (exit 2), an interruption says
    what was kept."""
    args.cohort = False
    try:
        from napari_mrisr.engine.threads import use_threads

        use_threads(args.threads)  # before any torch work; a busy machine may want fewer
        if args.command == "selfsr":
            from .selfsr import selfsr

            return selfsr(args)
        return _predict(args)
    except (ValueError, OSError) as exc:  # VolumeError and ModelError are ValueErrors
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        code = 143 if isinstance(stop, Terminated) else 130  # 128 + the signal's number
        if args.cohort:
            print(f"{prog}: interrupted; the files finished before are kept, the one in progress was "
                  "not written (the same command resumes).", file=sys.stderr)  # fmt: skip
        else:
            print(f"{prog}: interrupted; nothing was written.", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
