"""``mrisr selfsr``: self-supervised SR of one anisotropic scan, trained on itself."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_selfsr_parser", "selfsr"]


def selfsr(args: argparse.Namespace) -> int:
    """Self-supervised SR of one anisotropic scan (trained on itself), with a progress bar."""
    from tqdm import tqdm

    from napari_mrisr.atomic import check_writable
    from napari_mrisr.dicom.scan import is_dicom_input, read_scan
    from napari_mrisr.dicom.writing import series_description
    from napari_mrisr.engine.devices import pick_device
    from napari_mrisr.progress import Progress, run_to_end
    from napari_mrisr.selfsr import iter_selfsr, plan_grid, save_selfsr_model
    from napari_mrisr.selfsr.run import check_output_memory, output_voxels
    from napari_mrisr.selfsr.train import network_bytes, resolve_budget
    from napari_mrisr.volume.io import check_volume_path, save_volume
    from napari_mrisr.zoo.metadata import SUFFIX

    from .outputs import plan_outputs

    volume = read_scan(args.input)
    grid = plan_grid(volume, spacing=args.spacing, thickness=args.thickness, profile=args.profile)
    outputs = plan_outputs(args, is_dicom_input(args.input))
    files = [p for p in (outputs.file, args.disagreement) if p is not None]
    if len({path.resolve() for path in files}) < len(files):
        raise ValueError("--disagreement names the output file; give the disagreement map a file of its own.")
    if args.seed < 0:
        raise ValueError(f"--seed must be 0 or more, got {args.seed}.")
    if args.disagreement is not None:
        check_volume_path(args.disagreement)
        if not args.force and args.disagreement.resolve() == args.input.resolve():
            raise ValueError(f"{str(args.disagreement)!r} is the input file; pass --force to overwrite it.")
    if args.save_model is not None and args.save_model.suffix != SUFFIX:
        raise ValueError(f"{args.save_model.name!r}: model files end in {SUFFIX}.")
    pick_device(args.device)  # an unknown device is refused before any work
    check_output_memory(volume, grid)
    nbytes = output_voxels(volume, grid) * 4
    outputs.check(args.input, nbytes, args.force)
    # The other files this run writes, checked before the work: what each folder must hold in all.
    writes = {path: nbytes for path in files}
    if args.save_model is not None:
        writes[args.save_model] = network_bytes(grid, resolve_budget(args.budget, args.steps))
    for path in writes:
        folder = path.resolve().parent
        together = sum(n for p, n in writes.items() if p.resolve().parent == folder)
        check_writable(path, together, replace=args.force)
    if grid.estimate:  # the profile it will train with, before the minutes of training
        print(grid.estimate["note"], flush=True)
    # tqdm's own remaining time would count a batch of planes as a training step: the bar shows
    # only the run's ETA, in its postfix (training and applying, selfsr.run.iter_selfsr).
    bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
    with tqdm(
        total=None, unit="step", desc=f"self-SR of {args.input.name}", bar_format=bar_format
    ) as bar:

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
    if args.save_model is not None:  # the trained network first: it cost the most to make
        save_selfsr_model(result.model, result.grid, args.save_model, replace=args.force)
    description = series_description(result.grid.out_ratio, "self-supervised")
    for written in outputs.write(result.sr, description, args.force):
        print(f"wrote {written} ({' x '.join(map(str, result.sr.shape))} voxels)")
    if args.disagreement:
        save_volume(result.disagreement, args.disagreement, replace=args.force)
    return 0


def add_selfsr_parser(commands) -> None:
    sub = commands.add_parser(
        "selfsr",
        help="super-resolve the slice axis of one anisotropic scan, trained on itself",
        description="Self-supervised SR (SMORE/ECLARE principle): a 2D network learns from the "
        "scan's own in-plane slices, degraded by its slice profile, and restores the through-plane "
        "axis (the largest spacing) to the in-plane spacing. No training set is needed.",
    )
    sub.add_argument("input", type=Path, help="the anisotropic scan: a volume (.nii, .nii.gz, .mgz, .mgh) or a DICOM series folder")
    sub.add_argument("output", type=Path, help="the super-resolved volume, or for a DICOM series a new folder for the derived series")
    sub.add_argument("--dicom-out", type=Path, metavar="DIR", help="also write the result as a DICOM series into this new folder (DICOM input)")
    sub.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    sub.add_argument("--budget", default="fast", choices=["fast", "standard"],
                     help="fast: minutes on a laptop CPU (default); standard: larger, for a GPU")  # fmt: skip
    sub.add_argument("--thickness", type=float,
                     help="slice thickness (FWHM) in mm (default with --profile auto: what the DICOM header or "
                     "BIDS sidecar states, else estimated; otherwise the spacing)")
    sub.add_argument("--profile", default="auto", choices=["auto", "rect", "gaussian"],
                     help="slice profile; auto (default): a rect as thick as the DICOM header or the "
                     "NIfTI's BIDS sidecar (dcm2niix's .json) states, else its shape and thickness "
                     "estimated from the scan (a rect when --thickness is given)")  # fmt: skip
    sub.add_argument("--spacing", type=float, help="output spacing in mm (default: in-plane)")
    sub.add_argument("--disagreement", type=Path, help="also write the orientations' disagreement map")
    sub.add_argument("--save-model", type=Path, help="save the per-scan model (.safetensors)")
    sub.add_argument("--steps", type=int, help="training steps (default: the budget's)")
    sub.add_argument("--force", action="store_true", help="overwrite existing output files")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
