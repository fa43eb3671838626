"""Self-supervised SR of one scan on simulated MNI152 acquisitions whose HR the trainer never sees.

Cases (slices along S-I, simulated with :func:`napari_mrisr.volume.slice_profile.simulate_slices`):
(a) 1 x 1 x 4 mm thick slices; (b) 5 mm spacing, 4 mm thickness (a 1 mm gap); (c) 1 x 1 x 2.5 mm
(a fractional ratio); (d), only with ``--case d``, a routine clinical size: 256 x 256 x 40 at
0.9 x 0.9 x 5 mm (the head resampled and padded). For each: PSNR/SSIM (brain mask, whole
volume) of cubic interpolation and self-SR, for (a) also the bundled supervised x4 models; wall
time and device; and the correlation of the disagreement map with |SR - GT| in the brain mask.
``--subject`` simulates the cases on a real 1 mm scan instead (its axes turned to RAS, so its
slices are axial; see ``generalisation.py`` for the scans used; the mask is a head mask for a
scan with skull).
``--dipy`` also runs on dipy's real 4 x 4 x 5 mm scan and saves a figure:

    python benchmarks/selfsr.py [--case a] [--budget fast] [--steps N] [--device cpu] [--subject raw.nii.gz] [--dipy] [--fp32]
                                [--shape gaussian] [--profile given auto nominal] [--threads N]
                                [--told rect:4.4 gaussian:2.8]  (self-SR told a wrong profile)
                                [--patch 48 --batch 32 --lr 1e-3]  (the budget's training, changed)

``--profile given auto nominal`` runs self-SR three times per case: told the simulated slice
profile, estimating it from the scan (the default of ``mrisr selfsr``), and assuming contiguous
rect slices (the default before); ``--dipy`` uses the last choice (auto, or else rect).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.ndimage
import torch

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.progress import run_to_end
from napari_mrisr.selfsr.grid import AUTO, plan_grid
from napari_mrisr.selfsr.run import iter_selfsr
from napari_mrisr.selfsr.train import Budget, resolve_budget
from napari_mrisr.volume import metrics, sample
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.io import load_volume
from napari_mrisr.volume.slice_profile import simulate_slices
from napari_mrisr.zoo.model_file import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalisation import read_subject  # noqa: E402 (a real scan, axes turned to RAS)
from machine import describe_machine  # noqa: E402

#: case -> (slice spacing mm, thickness mm)
CASES = {"a": (4.0, 4.0), "b": (5.0, 4.0), "c": (2.5, 2.5), "d": (5.0, 5.0)}
#: the bundled models trained for case (a)'s acquisition, run on it beside self-SR
SUPERVISED = ("mni-x4-thick", "mni-x4-thick-full")
LABELS = {
    "a": "x4 thick slices (1x1x4 mm)",
    "b": "5 mm spacing, 4 mm thick (gap)",
    "c": "1x1x2.5 mm (r=2.5)",
    "d": "a clinical 256x256x40 scan, 0.9x0.9x5 mm",
}
#: Case (d): the head resampled to this isotropic spacing (mm) and padded to this in-plane matrix
#: and number of 5 mm slices, the size of a routine axial scan.
CLINICAL = {"spacing": 0.9, "matrix": 256, "slices": 40}


def clinical_hr(hr: Volume) -> Volume:
    """``hr`` (axes RAS, S-I last) cubic-resampled to 0.9 mm and cropped or zero-padded about its
    centre to 256 x 256 in-plane and the length of 40 slices of 5 mm along S-I."""
    step = CLINICAL["spacing"]
    zoom = np.asarray(hr.spacing) / step
    data = scipy.ndimage.zoom(
        hr.data.astype(np.float32), zoom, order=3, grid_mode=True, mode="grid-constant"
    )
    shape = (CLINICAL["matrix"], CLINICAL["matrix"], int(np.ceil(CLINICAL["slices"] * 5.0 / step)))
    shift = np.array([(n - m) // 2 for n, m in zip(shape, data.shape, strict=True)])  # + zoomed
    out = np.zeros(shape, np.float32)
    dst = tuple(
        slice(max(0, d), min(n, m + d)) for d, n, m in zip(shift, shape, data.shape, strict=True)
    )
    src = tuple(slice(x.start - d, x.stop - d) for x, d in zip(dst, shift, strict=True))
    out[dst] = np.clip(data[src], 0, None)
    # zoomed voxel j (grid mode: the same field of view) is at old voxel -0.5 + (j + 0.5) / zoom
    affine = hr.affine.copy()
    affine[:3, :3] = hr.affine[:3, :3] @ np.diag(1 / zoom)
    affine[:3, 3] = hr.affine[:3, :3] @ (-0.5 + (0.5 - shift) / zoom) + hr.affine[:3, 3]
    return Volume(out, affine, f"{hr.name} at 0.9 mm, 256 x 256")


def case_hr(case: str, subject: Path | None = None) -> Volume:
    """The HR head a case's slices are simulated from: the template or ``subject``, resampled
    for case (d) (:func:`clinical_hr`)."""
    hr = read_subject(subject) if subject else sample.mni152_hr()
    return clinical_hr(hr) if case == "d" else hr


def cubic_on_grid(lr: Volume, spacing: float | None = None) -> Volume:
    """Cubic B-spline along the slice axis onto the self-SR output grid (a real ratio): the
    package's baseline (``interpolate.upsample``) at the grid's ratio."""
    grid = plan_grid(lr, spacing=spacing)
    ratios = [1.0, 1.0, 1.0]
    ratios[grid.axis] = grid.out_ratio
    cubic = upsample(lr, ratios, order="cubic")
    cubic.name = f"{lr.name} cubic"
    return cubic


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (threads included)."""
    times = os.times()
    return times.user + times.system


def budget(args) -> Budget:
    """The named budget with the command line's overrides (steps, patch, batch, learning rate)."""
    changes = {"steps": args.steps, "patch": args.patch, "batch": args.batch, "lr": args.lr}
    return replace(resolve_budget(args.budget), **{k: v for k, v in changes.items() if v})


def run_selfsr(lr: Volume, args, **profile):
    """One self-SR run, its wall and CPU time printed split into training and applying."""
    start, cpu = time.perf_counter(), cpu_seconds()
    trained = {}
    threads = Counter()  # steps run at each thread count (engine.threads.ThreadTuner picks it)

    def show(event) -> None:
        threads[torch.get_num_threads()] += 1
        if event.message and event.message.startswith("training step"):
            # the last step's event ends training (applying's first event comes a batch late)
            trained.update(wall=time.perf_counter() - start, cpu=cpu_seconds() - cpu)
            if event.done % 250 == 0:
                print("  " + event.message, flush=True)

    result = run_to_end(
        iter_selfsr(lr, budget=budget(args), device=args.device, seed=args.seed, amp=not args.fp32,
                    **profile),
        show,
    )  # fmt: skip
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"  time: {seconds:.0f} s wall, {cpu:.0f} CPU-s (user + sys; the machine may be shared): "
          f"training {trained.get('wall', seconds):.0f} s / {trained.get('cpu', cpu):.0f} CPU-s, "
          f"applying {seconds - trained.get('wall', seconds):.0f} s / "
          f"{cpu - trained.get('cpu', cpu):.0f} CPU-s; events at each torch thread count "
          f"{dict(sorted(threads.items()))}")  # fmt: skip
    return result, seconds


def _told(spec: str) -> dict:
    """``SHAPE:MM`` (``rect:4.4``) as ``iter_selfsr``'s profile and thickness."""
    shape, _, mm = spec.partition(":")
    return {"profile": shape, "thickness": float(mm)}


def run_case(case: str, args) -> None:
    spacing, thickness = CASES[case]
    hr = case_hr(case, args.subject)
    lr = simulate_slices(hr, spacing, thickness, args.shape)
    print(f"\n## case ({case}): {LABELS[case]}, {args.shape} profile, of {hr.name}; LR {lr.shape}, "
          f"device {pick_device(args.device)}")  # fmt: skip
    # the output along the slices at the HR's spacing there (a real head's may not be in-plane's)
    out = float(hr.spacing[int(np.argmax(lr.spacing))])
    candidates = {"cubic": cubic_on_grid(lr, out)}
    times = {"cubic": ""}
    told = {f"told {spec}": _told(spec) for spec in args.told}  # a wrong profile, on purpose
    for choice in [*args.profile, *told]:
        profile = {
            "given": {"thickness": thickness, "profile": args.shape},
            "auto": {"profile": AUTO},
            "nominal": {"profile": "rect"},  # contiguous rect slices: the default before auto
            **told,
        }[choice]
        print(f"self-SR, {choice} profile:")
        result, seconds = run_selfsr(lr, args, spacing=out, **profile)
        if result.grid.estimate:
            print("  " + result.grid.estimate["note"])
        label = "self-SR" if choice == "given" else f"self-SR, {choice} ({result.grid.profile} {result.grid.thickness:.2f} mm)"
        candidates[label], times[label] = result.sr, f"{seconds:.0f} s"
    n = result.sr.shape[result.grid.axis]
    gt = Volume(
        hr.data[tuple(slice(0, n) if a == result.grid.axis else slice(None) for a in range(3))],
        hr.affine,
    )
    assert np.allclose(result.sr.affine, gt.affine, atol=1e-6), "self-SR is off the HR grid"
    for name in SUPERVISED if case == "a" else ():
        start = time.perf_counter()
        label = f"{name} (supervised)"
        candidates[label] = super_resolve(lr, load_model(name), device=args.device, amp=not args.fp32)
        times[label] = f"{time.perf_counter() - start:.0f} s"
    mask = metrics.foreground_mask(gt)
    table = metrics.metric_table(candidates, gt, mask)
    print("| method | PSNR brain | SSIM brain | PSNR whole | SSIM whole | wall time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in table.items():
        print(f"| {name} | {row['psnr_brain']:.2f} | {row['ssim_brain']:.4f} | {row['psnr']:.2f} | "
              f"{row['ssim']:.4f} | {times[name]} |")  # fmt: skip
    for label in (k for k in table if k.startswith("self-SR")):
        gain = table[label]["psnr_brain"] - table["cubic"]["psnr_brain"]
        print(f"{label} - cubic (brain PSNR): {gain:+.2f} dB")
    error = np.abs(result.sr.data - gt.data)
    corr = np.corrcoef(result.disagreement.data[mask], error[mask])[0, 1]
    print(f"disagreement vs |SR - GT| correlation (brain, last run): {corr:.3f}; steps "
          f"{len(result.model.losses)}, device {pick_device(args.device)}")  # fmt: skip


def _panel(image: np.ndarray, spacing, limits, scale: float = 3.0):
    """A grey PIL image of a 2D slice at its physical aspect (rows = first axis, shown upward)."""
    from PIL import Image

    lo, hi = limits
    grey = np.clip((image - lo) / (hi - lo + 1e-12), 0, 1)
    picture = Image.fromarray((255 * grey.T[::-1]).astype(np.uint8))
    width = int(round(image.shape[0] * spacing[0] * scale))
    height = int(round(image.shape[1] * spacing[1] * scale))
    return picture.resize((width, height), Image.Resampling.NEAREST)


def run_dipy(args) -> None:
    import dipy
    from PIL import Image, ImageDraw

    path = Path(dipy.__file__).parent / "data" / "files" / "aniso_vox.nii.gz"
    lr = load_volume(path)
    grid = plan_grid(lr)
    print(f"\n## dipy aniso_vox.nii.gz: {lr.shape}, spacing {np.round(lr.spacing, 3)} mm, "
          f"axis {grid.axis}, ratio {grid.ratio:.3g}")  # fmt: skip
    start = time.perf_counter()
    result = run_to_end(
        iter_selfsr(lr, budget=budget(args), device=args.device, seed=args.seed, amp=not args.fp32,
                    profile=AUTO if args.profile[-1] == "auto" else "rect")
    )
    if result.grid.estimate:
        print(result.grid.estimate["note"])
    print(f"self-SR {result.sr.shape} in {time.perf_counter() - start:.0f} s "
          f"on {pick_device(args.device)}")  # fmt: skip
    cubic = cubic_on_grid(lr)
    columns = (("cubic", cubic), ("self-SR", result.sr), ("disagreement", result.disagreement))
    limits = tuple(np.percentile(cubic.data, [0.5, 99.5]))
    d_limits = (0.0, float(np.percentile(result.disagreement.data, 99.5)))
    rows = []
    for plane_axis in (a for a in range(3) if a != grid.axis):  # planes containing the slice axis
        index = result.sr.shape[plane_axis] // 2
        panels = []
        for title, volume in columns:
            image = np.take(volume.data, index, axis=plane_axis)
            spacing = [s for a, s in enumerate(volume.spacing) if a != plane_axis]
            panel = _panel(image, spacing, d_limits if title == "disagreement" else limits)
            ImageDraw.Draw(panel).text((4, 4), f"{title} (axis {plane_axis} = {index})", fill=255)
            panels.append(panel)
        rows.append(panels)
    width = max(sum(p.width for p in row) for row in rows)
    sheet = Image.new("L", (width, sum(max(p.height for p in row) for row in rows)))
    y = 0
    for row in rows:
        x = 0
        for panel in row:
            sheet.paste(panel, (x, y))
            x += panel.width
        y += max(p.height for p in row)
    out = Path(args.out) / "selfsr_dipy_aniso.png"
    sheet.save(out)
    print(f"saved {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=sorted(CASES), action="append", help="run only these cases"
    )
    parser.add_argument("--budget", default="fast")
    parser.add_argument("--steps", type=int, help="override the budget's steps (smoke run)")
    parser.add_argument("--patch", type=int, help="override the budget's patch edge (pixels)")
    parser.add_argument("--batch", type=int, help="override the budget's patches per step")
    parser.add_argument("--lr", type=float, help="override the budget's peak learning rate")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subject", type=Path, help="simulate the cases on this 1 mm scan, not MNI152")
    parser.add_argument("--dipy", action="store_true", help="also run on dipy's aniso_vox.nii.gz")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--fp32", action="store_true", help="float32 throughout (default: bf16 where native)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the cores this process may use)")
    parser.add_argument("--shape", default="rect", choices=["rect", "gaussian"], help="the simulated slice profile")
    parser.add_argument("--profile", nargs="+", default=["given"], choices=["given", "auto", "nominal"],
                        help="self-SR told the simulated profile (given), estimating it (auto), or assuming "
                        "contiguous rect slices (nominal); one run each")
    parser.add_argument("--told", nargs="+", default=[], metavar="SHAPE:MM",
                        help="also runs told these profiles, e.g. rect:4.4 gaussian:2.8 (how much a "
                        "wrong profile costs)")
    args = parser.parse_args()
    from napari_mrisr.engine.threads import use_threads

    use_threads(args.threads)
    print(describe_machine(str(pick_device(args.device))))
    for case in args.case or ([] if args.dipy else sorted(CASES.keys() - {"d"})):  # (d): --case d
        run_case(case, args)
    if args.dipy:
        run_dipy(args)


if __name__ == "__main__":
    main()
