"""Self-supervised SR beside ECLARE (Remedios et al. 2025), on the same LR files, as users run them.

Each case of ``selfsr.py`` (thick slices simulated from MNI152, or from ``--subject``) is written
as a NIfTI file; then ``mrisr selfsr`` (ours: the slice profile given, and estimated with
``--profile auto``) and ECLARE's ``run-eclare`` (the profile given, and with ``--eclare-profile
espreso`` its own estimate) each run on it as a separate process. Both outputs are mapped onto the
HR grid through their affines and checked for a shift along the slice axis (the PSNR of each
output moved by -1, -0.5, 0, 0.5, 1 voxel; a best shift other than 0 is printed), then scored
against the HR: PSNR/SSIM in the brain mask and everywhere, gain over cubic, wall seconds and
CPU seconds (user + sys of the process and its children, since the machine may be shared).

ECLARE is GPL: it is never imported here or vendored, only run. Install it in its own
environment (its pins clash with ours: scipy==1.11.4) and name its command::

    python -m venv ~/eclare-venv && ~/eclare-venv/bin/pip install torch==2.13.0 eclare==1.0.1
    python benchmarks/selfsr_vs_eclare.py --eclare ~/eclare-venv/bin/run-eclare \\
        [--case a] [--crop 64 80] [--n-patches 25600] [--batch-size 32] [--device cpu]

ECLARE's default budget (1,000,000 patches) takes a GPU; on a few CPU cores give it fewer
patches (``--n-patches``) and, to keep its inference over every plane affordable, an in-plane
crop of the head (``--crop X Y`` in mm, centred on the brain; ours runs on the same crop). Say
which you used beside the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.ndimage

from napari_mrisr.volume import metrics
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import load_volume, save_volume
from napari_mrisr.volume.slice_profile import simulate_slices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine  # noqa: E402
from selfsr import CASES, LABELS, case_hr, cubic_on_grid  # noqa: E402

#: shifts (in HR voxels along the slice axis) tried when checking an output's alignment
SHIFTS = (-1.0, -0.5, 0.0, 0.5, 1.0)


def crop_in_plane(hr: Volume, size_mm: tuple[float, float], axis: int) -> Volume:
    """The box of ``size_mm`` across the two in-plane axes, centred on the head's foreground."""
    mask = metrics.foreground_mask(hr)
    centre = [int(round(c)) for c in scipy.ndimage.center_of_mass(mask)]
    index, start = [slice(None)] * 3, np.zeros(3, dtype=int)
    for a, size in zip([a for a in range(3) if a != axis], size_mm, strict=True):
        n = min(hr.shape[a], int(round(size / hr.spacing[a])))
        start[a] = int(np.clip(centre[a] - n // 2, 0, hr.shape[a] - n))
        index[a] = slice(start[a], start[a] + n)
    affine = hr.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ start
    return Volume(np.ascontiguousarray(hr.data[tuple(index)]), affine, hr.name)


def add_crop_argument(parser, help: str) -> None:
    """``--crop X Y``: the in-plane box of :func:`crop_in_plane`, in mm."""
    parser.add_argument("--crop", type=float, nargs=2, metavar=("X", "Y"), help=help)


def on_grid(volume: Volume, target: Volume, axis: int, shift: float = 0.0) -> np.ndarray:
    """``volume`` resampled (linear) onto ``target``'s voxels through both affines, optionally
    moved by ``shift`` target voxels along ``axis``; outside its extent the nearest voxel."""
    mapping = np.linalg.inv(volume.affine) @ target.affine
    step = np.zeros(3)
    step[axis] = shift
    offset = mapping[:3, 3] - mapping[:3, :3] @ step
    if np.allclose(mapping[:3, :3], np.eye(3), atol=1e-6) and np.allclose(
        offset, np.round(offset), atol=1e-4
    ):
        whole = np.round(offset).astype(int)  # the same grid: take the voxels as they are
        if all(
            0 <= o and o + n <= m for o, n, m in zip(whole, target.shape, volume.shape, strict=True)
        ):
            return volume.data[
                tuple(slice(o, o + n) for o, n in zip(whole, target.shape, strict=True))
            ]
    return scipy.ndimage.affine_transform(
        volume.data, mapping[:3, :3], offset, output_shape=target.shape, order=1, mode="nearest",
        output=np.float32,
    )  # fmt: skip


def grid_offset(volume: Volume, target: Volume) -> np.ndarray:
    """Where ``target``'s first voxel lies in ``volume``'s voxels (0 on the same grid)."""
    return (np.linalg.inv(volume.affine) @ target.affine)[:3, 3]


def best_shift(volume: Volume, gt: Volume, mask: np.ndarray, axis: int) -> tuple[float, dict]:
    """The shift of :data:`SHIFTS` that brings ``volume`` closest to ``gt`` (brain PSNR)."""
    scores = {s: metrics.psnr(on_grid(volume, gt, axis, s), gt.data, mask=mask) for s in SHIFTS}
    return max(scores, key=scores.get), scores


def run_timed(command: list[str], log: Path) -> tuple[float, float]:
    """Run ``command`` to its end (output to ``log``); its wall and CPU seconds (user + sys)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(
            f"{command[0]} failed ({done.returncode}); the end of {log}:\n" + "\n".join(tail)
        )
    return wall, cpu


def ours(lr_path: Path, out: Path, args, **profile) -> list[str]:
    command = [sys.executable, "-m", "napari_mrisr.cli", "selfsr", str(lr_path), str(out),
               "--budget", args.budget, "--device", args.device, "--seed", str(args.seed),
               "--force"]  # fmt: skip
    if "thickness" in profile:
        command += ["--thickness", f"{profile['thickness']:g}"]
    command += ["--profile", profile["profile"]]
    if args.steps:
        command += ["--steps", str(args.steps)]
    return command


def eclare(
    lr_path: Path, out_dir: Path, args, thickness_voxels: float | None, shape: str
) -> list[str]:
    command = [args.eclare, "--in-fpath", str(lr_path), "--out-dir", str(out_dir),
               "--n-patches", str(args.n_patches), "--batch-size", str(args.batch_size),
               "--gpu-id", "0" if args.device.startswith("cuda") else "-1"]  # fmt: skip
    if thickness_voxels is not None:  # else ESPRESO estimates the profile
        command += ["--relative-slice-thickness", f"{thickness_voxels:g}",
                    "--relative-slice-profile-type", shape]  # fmt: skip
    return command


def run_case(case: str, args, work: Path) -> None:
    spacing, thickness = CASES[case]
    hr = case_hr(case, args.subject)
    lr = simulate_slices(hr, spacing, thickness, args.shape)
    axis = int(np.argmax(lr.spacing))
    if args.crop:
        hr = crop_in_plane(hr, tuple(args.crop), axis)
        lr = simulate_slices(hr, spacing, thickness, args.shape)
    lr_path = save_volume(lr, work / f"case_{case}.nii.gz")
    crop = f", cropped in-plane to {hr.shape[0]} x {hr.shape[1]} voxels" if args.crop else ""
    print(
        f"\n## case ({case}): {LABELS[case]}, {args.shape} profile, of {hr.name}{crop}; "
        f"LR {lr.shape}"
    )
    in_plane = float(min(s for a, s in enumerate(lr.spacing) if a != axis))
    runs: dict[str, tuple[Path, list[str]]] = {}
    for choice in args.profile:
        given = (
            {"thickness": thickness, "profile": args.shape}
            if choice == "given"
            else {"profile": "auto"}
        )
        path = work / f"ours_{choice}_{case}.nii.gz"
        runs[f"ours, {choice} profile ({args.budget})"] = (path, ours(lr_path, path, args, **given))
    if args.eclare:
        for choice in args.eclare_profile:
            out_dir = work / f"eclare_{choice}_{case}"
            path = out_dir / f"case_{case}_eclare.nii.gz"
            voxels = thickness / in_plane if choice == "given" else None
            label = f"ECLARE, {choice} profile ({args.n_patches:,} patches)"
            runs[label] = (path, eclare(lr_path, out_dir, args, voxels, args.shape))
    outputs, times = {}, {}
    for label, (path, command) in runs.items():
        print(f"{label}: {' '.join(command)}", flush=True)
        times[label] = run_timed(command, path.parent / f"{path.name}.log")
        outputs[label] = load_volume(path)
        print(f"  {times[label][0]:.0f} s wall, {times[label][1]:.0f} CPU-s", flush=True)
    # the HR grid over the extent every output covers (the slices self-SR's grid rule keeps);
    # the outputs' spacing is the in-plane one, which may differ from the HR's along the slices
    covered = min(o.shape[axis] * o.spacing[axis] for o in outputs.values())
    n = min(hr.shape[axis], int(np.floor(covered / hr.spacing[axis] + 1e-6)))
    index = tuple(slice(0, n) if a == axis else slice(None) for a in range(3))
    gt = Volume(hr.data[index], hr.affine, "HR")
    mask = metrics.foreground_mask(gt)
    candidates = {"cubic": on_grid(cubic_on_grid(lr), gt, axis)}
    for label, volume in outputs.items():
        offset = grid_offset(volume, gt)
        shift, scores = best_shift(volume, gt, mask, axis)
        note = (
            ""
            if shift == 0
            else f"; best at a shift of {shift:+g} voxel ({scores[shift] - scores[0.0]:+.2f} dB)"
        )
        print(f"{label}: output {volume.shape}, spacing {np.round(volume.spacing, 3)} mm, "
              f"HR voxel 0 at {np.round(offset, 3)} of its voxels{note}")  # fmt: skip
        candidates[label] = on_grid(volume, gt, axis)
    table = metrics.metric_table(candidates, gt.data, mask)
    cubic = table["cubic"]["psnr_brain"]
    print(
        "\n| method | PSNR brain | gain over cubic | SSIM brain | PSNR whole | SSIM whole "
        "| wall s | CPU s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, row in table.items():
        wall, cpu = (f"{t:.0f}" for t in times[label]) if label in times else ("", "")
        print(f"| {label} | {row['psnr_brain']:.2f} | {row['psnr_brain'] - cubic:+.2f} | "
              f"{row['ssim_brain']:.4f} | {row['psnr']:.2f} | {row['ssim']:.4f} | {wall} | "
              f"{cpu} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=sorted(CASES), action="append", help="run only these cases"
    )
    parser.add_argument(
        "--eclare",
        default=shutil.which("run-eclare"),
        help="ECLARE's run-eclare command (default: on PATH; without it, ours only)",
    )
    parser.add_argument(
        "--n-patches", type=int, default=1_000_000, help="ECLARE's training patches (its default)"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="ECLARE's batch (its default)")
    parser.add_argument(
        "--eclare-profile",
        nargs="+",
        default=["given"],
        choices=["given", "espreso"],
        help="ECLARE told the simulated profile, or estimating it (ESPRESO: hours on a CPU)",
    )
    parser.add_argument(
        "--profile",
        nargs="*",
        default=["given", "auto"],
        choices=["given", "auto"],
        help="ours told the simulated profile, or estimating it (none: ECLARE only)",
    )
    parser.add_argument("--budget", default="fast")
    parser.add_argument("--steps", type=int, help="our training steps (default: the budget's)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shape", default="rect", choices=["rect", "gaussian"], help="the simulated slice profile"
    )
    add_crop_argument(parser, "crop the head in-plane to X x Y mm around the brain (both methods)")
    parser.add_argument(
        "--subject", type=Path, help="simulate the cases on this 1 mm scan, not MNI152"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="write the LR files and outputs here (default: a temporary folder)",
    )
    args = parser.parse_args()
    if args.eclare is None:
        if not args.profile:
            parser.error(
                "nothing to run: ECLARE is not installed and --profile names no run of ours"
            )
        print("ECLARE is not installed (no run-eclare on PATH, no --eclare): ours only")
    print(describe_machine(args.device) + f"; {os.cpu_count()} CPUs seen")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for case in args.case or sorted(CASES.keys() - {"d"}):  # (d): --case d
            run_case(case, args, work)


if __name__ == "__main__":
    main()
