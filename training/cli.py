"""``python -m napari_mrisr.training`` / ``mrisr-train``: fit, evaluate and export.

Bad input (a config field, a missing file) ends with exit code 2 and one sentence on stderr;
a run stopped by a NaN/Inf loss exits with 1, a run stopped by SIGTERM with 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_mrisr.console import one_line_warnings


def _overrides(pairs: list[str]) -> dict:
    from .config import load_yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set takes FIELD=VALUE, got {pair!r}.")
        out[key] = load_yaml(value, f"--set {key}")
    return out


def _fit(args: argparse.Namespace) -> int:
    from .config import load_config
    from .engine import fit

    config = load_config(args.config, _overrides(args.set))
    if args.quiet:  # Lightning's hardware lines and adverts: the events say what matters
        import logging

        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    result = fit(config, resume=args.resume, events=args.events, install=args.install, progress_bar=not args.quiet)
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank != 0:  # other DDP ranks: rank 0 reports
        return 0 if result["status"] != "error" else 1
    if result["status"] == "error":
        print(result["message"], file=sys.stderr)
        return 1
    if result["validation"]:
        from napari_mrisr.volume.metrics import format_markdown

        print(format_markdown(result["validation"]))
    print(f"{result['status']}: best checkpoint {result['best']}; model {result['model']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from napari_mrisr.volume.metrics import format_markdown

    from .evaluation import evaluate

    table = evaluate(args.model, args.data, held_out=not args.all, device=args.device, tile=args.tile)
    print(format_markdown(table))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export

    print(f"wrote {export(args.checkpoint, args.out, half=args.half, replace=args.force)}")
    return 0


def parser() -> argparse.ArgumentParser:
    from napari_mrisr import __version__

    p = argparse.ArgumentParser(prog="mrisr-train", description="Train 3D MRI super-resolution models.")
    p.add_argument("--version", action="version", version=f"napari-mrisr {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="train from a YAML config (a path or a preset name such as tiny)")
    f.add_argument("config")
    f.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    f.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a field, e.g. schedule.pretrain_steps=50")
    f.add_argument("--events", help="JSON-lines progress events: a file, or - for stdout (default RUN_DIR/events.jsonl)")
    f.add_argument("--install", action="store_true", help="also put the exported model in the user's model folder")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(run=_fit)
    e = sub.add_parser("evaluate", help="metrics of a model file and of cubic interpolation")
    e.add_argument("model", help="model file or installed model name")
    e.add_argument("data", nargs="*", help="volumes or folders (default: the MNI152 sample)")
    e.add_argument("--all", action="store_true", help="score every volume, not only the model's held-out split")
    e.add_argument("--device", default="auto")
    e.add_argument("--tile", type=int)
    e.set_defaults(run=_evaluate)
    x = sub.add_parser("export", help="checkpoint -> napari-mrisr model file (.safetensors)")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("out", type=Path)
    x.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")
    x.add_argument("--force", action="store_true", help="overwrite an existing model file")
    x.set_defaults(run=_export)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings

    one_line_warnings("mrisr-train")
    # Lightning's own use of a torch API that torch deprecated: nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
    args = parser().parse_args(argv)
    from napari_mrisr.volume.base import VolumeError
    from napari_mrisr.zoo.metadata import ModelError

    from .config import ConfigError

    try:
        return args.run(args)
    except (ConfigError, VolumeError, ModelError, OSError, ValueError) as exc:
        print(f"mrisr-train: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mrisr-train: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
