"""A warm start for self-SR: its network pretrained on other heads, then trained on the scan.

Issue 40 asks whether a 2D network pretrained on many slices of real heads, then trained on the
user's scan, beats training from scratch at equal time (none of the peers does this). The
pretraining heads (``--pretrain``; the MNI152 template always) get case (a)'s acquisition:
contiguous rect slices along S-I, 4 in-plane voxels thick and apart (4 mm at 1 mm), so the
network's upsampling factor is 4 on every head. Each is normalised as self-SR normalises a scan,
and they are stacked along the slice axis (zero-padded in-plane) into one volume, on which the
fast budget's network trains for ``--pretrain-steps`` with the trainer self-SR uses
(:func:`~napari_mrisr.selfsr.train.iter_train`). Each ``--subject`` (a head not pretrained on)
gets the same acquisition; self-SR runs on it from scratch and from the pretrained weights for
each of ``--steps``, the warm starts at each peak rate of ``--warm-lr``, and the table gives the
brain PSNR gain over cubic and the time of each run (the pretraining is paid once, not per scan):

    python benchmarks/selfsr_warm_start.py --subject DIR/raw.nii.gz DIR/ds000240.nii.gz
        [--pretrain DIR/ch2.nii.gz] [--pretrain-steps 2400] [--steps 1200 400]
        [--warm-lr 2e-3 8e-3] [--threads 2]

(``DIR``: the files of ``real_scans.py``.) The package has no warm start: for the warm runs this
script hands self-SR the pretrained network in place of a new one.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from napari_mrisr.engine.inference import intensity_range
from napari_mrisr.progress import run_to_end
from napari_mrisr.selfsr import train
from napari_mrisr.selfsr.grid import plan_grid
from napari_mrisr.selfsr.run import iter_selfsr
from napari_mrisr.volume import metrics, sample
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import superior_axis
from napari_mrisr.volume.slice_profile import simulate_slices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalisation import read_subject  # noqa: E402 (a real scan, axes turned to RAS)
from machine import describe_machine  # noqa: E402
from selfsr import cpu_seconds, cubic_on_grid  # noqa: E402

#: Slice spacing and thickness in in-plane voxels (case (a): contiguous 4 mm rect at 1 mm).
RATIO = 4.0
PROFILE = "rect"


def thick_slices(hr: Volume) -> Volume:
    """``hr``'s case (a) acquisition along S-I, in its own in-plane voxels (ratio :data:`RATIO`)."""
    axis = superior_axis(hr.affine)
    in_plane = float(min(s for a, s in enumerate(hr.spacing) if a != axis))
    return simulate_slices(hr, RATIO * in_plane, RATIO * in_plane, PROFILE, axis=axis)


def pretrain(heads: list[Volume], steps: int, budget: train.Budget) -> torch.nn.Module:
    """The budget's network trained on the heads' thick slices, stacked along the slice axis
    (each normalised as self-SR normalises a scan; all S-I last, as ``read_subject`` turns them)."""
    scans = [thick_slices(hr) for hr in heads]
    p, q = (max(scan.shape[a] for scan in scans) for a in (0, 1))
    parts = []
    for scan in scans:
        low, high = intensity_range(scan.data)
        padded = np.zeros((p, q, scan.shape[2]), np.float32)
        padded[: scan.shape[0], : scan.shape[1]] = (scan.data - low) / (high - low)
        parts.append(padded)
    stack = Volume(np.concatenate(parts, axis=2), np.diag([1.0, 1.0, RATIO, 1.0]), "pretraining")
    grid = plan_grid(stack, thickness=RATIO, profile=PROFILE)
    start, cpu = time.perf_counter(), cpu_seconds()
    model = run_to_end(train.iter_train(stack, grid, budget, device="cpu", steps=steps, amp=False))
    print(
        f"pretrained {steps} steps on {len(scans)} heads' slices {stack.shape}: "
        f"{time.perf_counter() - start:.0f} s, {cpu_seconds() - cpu:.0f} CPU-s",
        flush=True,
    )
    return model


@contextlib.contextmanager
def starting_from(model: torch.nn.Module | None):
    """Self-SR's new network replaced by a copy of ``model`` (None: left as it is)."""
    if model is None:
        yield
        return
    new = train.network
    train.network = lambda grid, budget: copy.deepcopy(model)
    try:
        yield
    finally:
        train.network = new


def run_head(hr: Volume, runs: list, budget: train.Budget) -> None:
    lr = thick_slices(hr)
    axis = superior_axis(hr.affine)
    thickness = float(lr.spacing[axis])
    out = float(hr.spacing[axis])
    print(f"\n## {hr.name}: LR {lr.shape}, contiguous {thickness:.2f} mm rect slices")
    candidates, times = {"cubic": cubic_on_grid(lr, out)}, {}
    for label, model, steps, rate in runs:
        spec = replace(budget, steps=steps, lr=rate)
        start, cpu = time.perf_counter(), cpu_seconds()
        with starting_from(model):
            result = run_to_end(
                iter_selfsr(lr, budget=spec, device="cpu", seed=0, amp=False, spacing=out,
                            thickness=thickness, profile=PROFILE)
            )  # fmt: skip
        times[label] = (time.perf_counter() - start, cpu_seconds() - cpu)
        candidates[label] = result.sr
        print(f"  {label}: {times[label][0]:.0f} s, {times[label][1]:.0f} CPU-s", flush=True)
    n = result.sr.shape[axis]
    index = tuple(slice(0, n) if a == axis else slice(None) for a in range(3))
    gt = Volume(hr.data[index], hr.affine)
    table = metrics.metric_table(candidates, gt, metrics.foreground_mask(gt))
    cubic = table["cubic"]["psnr_brain"]
    print("| start | steps | peak rate | brain PSNR | gain over cubic | wall | CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| cubic | | | {cubic:.2f} | | | |")
    for label, _, steps, rate in runs:
        psnr = table[label]["psnr_brain"]
        wall, cpu = times[label]
        print(
            f"| {label.split(',')[0]} | {steps} | {rate:g} | {psnr:.2f} | {psnr - cubic:+.2f} dB "
            f"| {wall:.0f} s | {cpu:.0f} CPU-s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", type=Path, nargs="+", required=True, help="heads to test on")
    parser.add_argument("--pretrain", type=Path, nargs="*", default=[],
                        help="heads to pretrain on besides the MNI152 template")  # fmt: skip
    parser.add_argument("--pretrain-steps", type=int, default=2400)
    parser.add_argument("--steps", type=int, nargs="+", default=[1200, 400])
    parser.add_argument("--warm-lr", type=float, nargs="+", default=[2e-3],
                        help="peak learning rates of the warm starts")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(describe_machine())
    budget = train.BUDGETS[train.BudgetName.FAST]
    heads = [sample.mni152_hr(), *(read_subject(path) for path in args.pretrain)]
    model = pretrain(heads, args.pretrain_steps, budget)
    runs = []
    for steps in args.steps:
        runs.append((f"scratch, {steps}", None, steps, budget.lr))
        runs += [(f"warm, {steps}, {rate:g}", model, steps, rate) for rate in args.warm_lr]
    for path in args.subject:
        run_head(read_subject(path), runs, budget)


if __name__ == "__main__":
    main()
