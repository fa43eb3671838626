"""Quality on the held-out slabs of the MNI152 sample: interpolation vs trained models.

For each task (x2 isotropic k-space, x4 through-plane thick-slice), the held-out slab is the
one the shipped configs hold out (central 15% axial slab, never seen in training). Every
method super-resolves that slab's simulated LR acquisition; PSNR, SSIM, NRMSE (brain mask and
whole slab) and the gradient-magnitude similarity (GMSM, sharpness that rewards real detail)
are computed against the slab, and the sharpness relative to it (mean gradient magnitude,
1 = as sharp as the slab). Writes a Markdown table and one figure per task:

    python benchmarks/quality.py [--models FILE ...] [--out docs] [--time] [--fp32]

Models: the bundled ones, plus any model files given; each is scored on the task whose
degradation its metadata declares, in the engine's default precision (bf16 where the device
computes it natively; ``--fp32`` for float32 throughout). ``--time`` also times each shipped x2 model on the whole
sample (LR x2, 98x116x94 -> 196x232x188).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from machine import describe_machine

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.engine.precision import native_bf16
from napari_mrisr.training.config import DataConfig, DegradationConfig
from napari_mrisr.training.data.volumes import make_validation_pair, split_volumes
from napari_mrisr.training.validation import axial_slice, coronal_slice
from napari_mrisr.volume import metrics, sample
from napari_mrisr.volume.geometry import superior_axis
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.zoo.folders import list_models
from napari_mrisr.zoo.metadata import read_metadata
from napari_mrisr.zoo.model_file import load_model

TASKS = {
    "x2 iso k-space": DegradationConfig(method="kspace", factors=[2, 2, 2]),
    "x4 thick-slice (S-I)": DegradationConfig(method="thick_slice", factors=[1, 1, 4]),
}
SPLIT = DataConfig(validation_fraction=0.15, slab_gap=8)


def held_out_pair(degradation: DegradationConfig):
    _, (slab,) = split_volumes([sample.mni152_hr()], SPLIT, tuple(degradation.factors))
    return make_validation_pair(slab, degradation)


def scores(volumes: dict, pair) -> metrics.Table:
    """The package's metrics table of each method, plus in the brain mask GMSM (``gmsm_brain``)
    and the gradient magnitude relative to the ground truth's (``sharpness_brain``, 1 = as sharp;
    ``sharpness_si_brain`` the superior-inferior derivative's only, through thick slices)."""
    table = metrics.metric_table(volumes, pair.hr, pair.mask)
    for name, volume in volumes.items():
        table[name]["gmsm_brain"] = metrics.gradient_similarity(volume, pair.hr, mask=pair.mask)
        table[name]["sharpness_brain"] = metrics.relative_sharpness(volume, pair.hr, mask=pair.mask)
        table[name]["sharpness_si_brain"] = metrics.relative_sharpness(volume, pair.hr, mask=pair.mask, axis=superior_axis(pair.hr.affine))
    return table


def task_of(meta: dict) -> str | None:
    d = meta.get("degradation") or {}
    for task, degradation in TASKS.items():
        if d.get("method") == degradation.method and list(d.get("factors", [])) == degradation.factors:
            return task
    return None


def describe(meta: dict) -> str:
    training = meta.get("training") or {}
    config = training.get("config") or {}
    disc = (config.get("discriminator") or {}).get("architecture", "none")
    arch = meta.get("architecture", "?")
    kind = "content only" if disc in ("none", None) else f"{disc} GAN"
    stages = [stage.get("steps") for stage in training.get("stages") or []]
    if all(stages) and len(stages) > 1:  # a model trained in stages, each from the last
        steps = f", {' + '.join(map(str, stages))} steps"
    else:
        steps = f", {training['steps']} steps" if training.get("steps") else ""
    return f"{arch}, {kind}{steps}"


def detail_box(truth: np.ndarray, mask: np.ndarray, side: int) -> tuple[int, int]:
    """The top-left corner of the ``side``-pixel square of the ground truth's slice with the most
    gradient magnitude inside the brain mask: where a model's sharpness or texture shows."""
    gradient = np.hypot(*np.gradient(truth)) * mask
    area = np.pad(gradient.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    sums = area[side:, side:] - area[:-side, side:] - area[side:, :-side] + area[:-side, :-side]
    return np.unravel_index(int(np.argmax(sums)), sums.shape)


def figure(path: Path, pair, results: dict, columns: int = 4, zoom: int = 2) -> None:
    """A slice of GT, LR (``results["nearest"]``) and each method, each above its |x - GT| (x4 gain) and a
    close-up of the slice's most detailed square (outlined on the ground truth, and windowed to
    the brain in it, so contrast and texture show); ``columns`` methods per band of three rows,
    enlarged ``zoom`` times (a close-up to the column's width), radiological (patient's right on
    the left): the middle axial slice, or for a through-plane task the middle coronal slice
    (superior up, enlarged 3x more down the slice axis), where the through-plane detail shows."""
    from PIL import Image, ImageDraw

    through_plane = pair.factors[superior_axis(pair.hr.affine)] > 1 and len(set(pair.factors)) > 1
    top = float(np.percentile(pair.hr.data, 99.5))

    def view(data):
        if not through_plane:
            return axial_slice(data, pair.hr.affine, pair.hr.shape[superior_axis(pair.hr.affine)] // 2)
        along = int(np.argmax(np.abs(pair.hr.affine[1, :3])))  # the data axis along anterior
        return np.repeat(coronal_slice(data, pair.hr.affine, pair.hr.shape[along] // 2), 3, axis=0)

    images = {"ground truth": pair.hr.data, "LR (nearest)": results["nearest"].data}
    images.update({name: v.data for name, v in results.items() if name != "nearest"})
    truth = view(pair.hr.data)
    h, w = (n * zoom for n in truth.shape)
    side = min(truth.shape[0], truth.shape[1] // 3)
    brain = view(pair.mask.astype(np.float32)) > 0.5
    r0, c0 = detail_box(truth, brain, side)
    box = np.s_[r0 : r0 + side, c0 : c0 + side]
    lo, hi = np.percentile(truth[box][brain[box]], [1, 99])  # the close-ups' window
    offsets = (0, h + 16, 2 * (h + 16))  # each row's: slice, error, close-up (w high)
    band = offsets[-1] + w + 16
    bands = -(-len(images) // columns)
    canvas = Image.new("L", (w * min(columns, len(images)), bands * band), 0)
    draw = ImageDraw.Draw(canvas)
    for i, (name, data) in enumerate(images.items()):
        x, y = (i % columns) * w, (i // columns) * band
        plane = view(data)
        image = np.clip(plane / top, 0, 1)
        error = np.clip(np.abs(plane - truth) / top * 4, 0, 1)
        close_up = np.clip((plane[box] - lo) / (hi - lo), 0, 1)
        tiles = (
            (name, image, h),
            ("" if i == 0 else "|x - GT| x4", error, h),
            (f"{name}, close-up", close_up, w),
        )
        for offset, (label, tile, height) in zip(offsets, tiles, strict=True):
            picture = Image.fromarray((tile * 255).astype(np.uint8)).resize((w, height), Image.Resampling.NEAREST)
            canvas.paste(picture, (x, y + offset + 16))
            draw.text((x + 3, y + offset + 2), label[:34], fill=255)
        if i == 0:  # where the close-ups come from
            x0, y0 = x + c0 * zoom, y + 16 + r0 * zoom
            draw.rectangle((x0, y0, x0 + side * zoom - 1, y0 + side * zoom - 1), outline=255)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], help="extra model files to score")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--time", action="store_true", help="time the shipped x2 models on the whole sample")
    parser.add_argument("--fp32", action="store_true", help="float32 throughout (default: bf16 where native)")
    args = parser.parse_args()

    twins = sorted(list_models(), key=lambda info: (info.name.removesuffix("-gan"), info.name))  # a GAN beside its content twin
    models = {info.name: info.path for info in twins if info.bundled}
    models.update({Path(p).stem: Path(p) for p in args.models})
    precision = "bf16 where the device has it natively" if not args.fp32 else "float32"
    lines = [
        "# Quality on the held-out slab",
        "",
        "Written by `python benchmarks/quality.py"
        + (" --time" if args.time else "") + (" --fp32" if args.fp32 else "")
        + f"` ({describe_machine()}; {precision}). The central 15% axial slab of the MNI152 "
        "template, never trained on, degraded as each task says; metrics in the brain mask and the "
        "whole slab. SHARPNESS is the brain's mean gradient magnitude over the truth's (1: as sharp; "
        "nearest neighbour scores about 1 from its blocks, so read it beside PSNR and GMSM), "
        "SHARPNESS_SI the same for the superior-inferior derivative only (through thick slices).",
        "",
    ]
    for task, degradation in TASKS.items():
        pair = held_out_pair(degradation)
        factors = tuple(degradation.factors)
        results, kinds = {}, {}
        for method in ("nearest", "trilinear", "cubic"):
            results[method] = upsample(pair.lr, factors, order=method)
            kinds[method] = "interpolation"
        for name, path in models.items():
            if task_of(read_metadata(path)) != task:  # metadata only: weights load just for its task
                continue
            net = load_model(path)
            results[name] = super_resolve(pair.lr, net, amp=not args.fp32)
            kinds[name] = describe(net.meta)
        table = scores(results, pair)
        cubic = table["cubic"]["psnr_brain"]
        labels = {  # a model's row says its gain over cubic
            name: name
            if kind == "interpolation"
            else f"{name} ({table[name]['psnr_brain'] - cubic:+.2f} dB vs cubic)"
            for name, kind in kinds.items()
        }
        lines += [
            f"## {task}: held-out slab {pair.hr.shape}, brain mask {pair.mask.mean():.0%} of voxels",
            "",
            metrics.format_markdown(
                {labels[name]: values for name, values in table.items()},
                {"kind": {labels[name]: kind for name, kind in kinds.items()}},
            ),
            "",
        ]
        slug = "x2" if factors == (2, 2, 2) else "x4"
        figure(args.out / f"quality_{slug}.png", pair, results)
        lines.append(f"![{task}](quality_{slug}.png)")
        lines.append("")
    if args.time:
        x2 = [name for name, path in models.items() if task_of(read_metadata(path)) == "x2 iso k-space"]
        lr = sample.mni152_lr_x2()
        device = pick_device("auto")
        precision = "bf16" if native_bf16(device) and not args.fp32 else "fp32"
        for name in x2:
            net = load_model(models[name])
            start = time.perf_counter()
            super_resolve(lr, net, amp=not args.fp32)
            seconds = time.perf_counter() - start
            lines.append(f"Inference of {name} on the whole sample LR x2 {lr.shape} on {device} ({precision}): {seconds:.1f} s.")
    text = "\n".join(lines)
    (args.out / "quality.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
