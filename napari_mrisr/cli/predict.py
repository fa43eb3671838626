"""``mrisr predict``: super-resolve one file, or a cohort of files into a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["predict", "predict_cohort"]


def predict(args: argparse.Namespace) -> int:
    """Super-resolve one scan (a file or a DICOM series) with a model, with a progress bar."""
    import numpy as np
    from tqdm import tqdm

    from napari_mrisr.dicom.scan import is_dicom_input, read_scan
    from napari_mrisr.dicom.writing import series_description
    from napari_mrisr.engine.devices import pick_device
    from napari_mrisr.predict.method import iter_fitted
    from napari_mrisr.progress import Progress, run_to_end
    from napari_mrisr.zoo.model_file import load_model
    from napari_mrisr.zoo.model_fit import check_fit

    from .outputs import plan_outputs

    volume = read_scan(args.input)  # the input first: a missing input is the first thing to say
    outputs = plan_outputs(args, is_dicom_input(args.input))
    pick_device(args.device)  # an unknown device is refused before any work
    model_ref = args.model or _default_model(volume, args.device)
    model, name = load_model(model_ref), Path(model_ref).stem
    fit = check_fit(volume, model.meta, name)  # a scan the model does not fit: refused here
    outputs.check(args.input, volume.data.size * int(np.prod(model.scale)) * 4, args.force)
    with tqdm(total=None, unit="tile", desc=f"super-resolving {args.input.name}") as bar:

        def show(event: Progress) -> None:
            if event.warning:  # e.g. a scan coarser than the model's training input
                tqdm.write(f"mrisr: warning: {event.message}", file=sys.stderr)
            elif event.message:
                tqdm.write(event.message)
            elif event.total:
                bar.total = event.total
                bar.update(event.done - bar.n)

        work = iter_fitted(volume, model, fit, device=args.device, tile=args.tile)
        sr = run_to_end(work, show)
    for written in outputs.write(sr, series_description(fit.factors, name), args.force):
        print(f"wrote {written} ({' x '.join(map(str, sr.shape))} voxels)")
    return 0


def predict_cohort(args: argparse.Namespace) -> int:
    """Super-resolve many files into a folder, with a per-file summary (exit 1 if any failed)."""
    import torch
    from tqdm import tqdm

    from napari_mrisr.engine.devices import pick_device
    from napari_mrisr.predict.cohort import cohort_inputs, iter_cohort, run_on_devices, summary
    from napari_mrisr.progress import run_to_end
    from napari_mrisr.volume.io import find_volumes, is_volume_path
    from napari_mrisr.zoo.model_file import load_model

    if getattr(args, "dicom_out", None) is not None:
        raise ValueError("--dicom-out writes the series of one DICOM input; a cohort writes files.")
    folder = str(args.output)
    if args.output.exists() and not args.output.is_dir():
        raise ValueError(f"{folder!r} is a file; several inputs need a folder for their outputs.")
    if not args.output.exists() and is_volume_path(args.output):
        raise ValueError(
            f"{folder!r} is named like a volume, but several inputs need a folder for their "
            "outputs."
        )
    inputs = cohort_inputs(find_volumes(args.inputs), args.output)
    device = pick_device(args.device)
    model_ref = args.model or _cohort_default_model(inputs, device)
    model = load_model(model_ref)  # refused here, once, before any file is touched
    args.output.mkdir(parents=True, exist_ok=True)
    gpus = torch.cuda.device_count() if device.type == "cuda" and device.index is None else 1
    files = f"{len(inputs)} file{'s' if len(inputs) != 1 else ''}"
    name = model.meta.get("name", model_ref)
    print(f"{files} -> {args.output} with {name}", file=sys.stderr)
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
                    tqdm.write(f"mrisr: warning: {event.message}", file=sys.stderr)
                else:
                    bar.update(event.done - bar.n)
                    bar.set_postfix_str(event.message)

            work = iter_cohort(inputs, args.output, model, str(device), args.tile, args.force)
            outcomes = run_to_end(work, show)
    print(summary(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _default_model(volume, device, chosen_by: str = "") -> str:
    """The bundled model to run on ``volume`` when ``--model`` is not given: the one the
    Super-resolve widget switches to (``zoo.model_choice.choose_bundled``: a content model that
    fits the scan, the kind this machine runs best), said in one line; refused in one sentence
    naming what the bundled models expect when none fits."""
    from napari_mrisr.zoo.folders import list_models
    from napari_mrisr.zoo.model_choice import bundled_inputs, choose_bundled
    from napari_mrisr.zoo.model_fit import describe_scan

    choice = choose_bundled(volume, device)
    if choice is not None:
        print(f"using {choice.info.name}{chosen_by}: {choice.why}", file=sys.stderr)
        return str(choice.info.path)
    expected = bundled_inputs()
    if not expected and not list_models():
        raise ValueError("No trained model is installed; pass --model with a .safetensors file.")
    if not expected:
        raise ValueError("No bundled model is installed; pass --model with one of yours.")
    raise ValueError(
        f"No bundled model fits {volume.name!r} ({describe_scan(volume)}): they expect "
        f"{' or '.join(expected)}; pass --model with a model trained for such scans, or run "
        "`mrisr selfsr` on it (self-supervised SR of a thick-slice scan, trained on itself)."
    )


def _cohort_default_model(inputs, device) -> str:
    """:func:`_default_model` for a cohort, chosen once by the first file that reads: one model
    is loaded once (in each GPU's process), as with ``--model``; a file it does not fit fails
    with its reason in the summary, and the others run."""
    from napari_mrisr.volume.io import load_volume

    first = None
    for path in inputs:
        try:
            volume = load_volume(path)
        except (ValueError, OSError) as exc:  # reported again when the cohort reaches the file
            first = first or exc
            continue
        return _default_model(volume, device, f" for every file (chosen by {path.name})")
    raise ValueError(f"No input can be read, so no model can be chosen: {first}")
