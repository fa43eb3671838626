"""How large a halo the bundled models need: seam error and halo cost against the overlap.

For each model, on a 64^3 LR crop from the middle of its task's sample (so tiles cut through
the brain), the engine's output with 32^3 tile cores (8 tiles, seams crossing the middle on
every axis) is compared with one whole-crop pass, both in float32 so only the halo differs:
max and 99.9th percentile |difference| over the whole pass's range. Beside it, the halo overhead
(voxels computed / voxels output) of the tile plan the engine picks for the whole sample
(bf16 where native) at that overlap. The bf16 engine's own rounding is about 5e-3 of the range
(``benchmarks/inference.py``), the scale a seam must stay well under.

    python benchmarks/halo.py [--models mni-x2-iso-full ...] [--overlaps 16 12 8]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from napari_mrisr.engine.inference import _runnable, super_resolve
from napari_mrisr.engine.precision import autocast
from napari_mrisr.engine.tiling import plan_tiles, receptive_radius
from napari_mrisr.volume.sample import mni152_lr_thick_x4, mni152_lr_x2
from napari_mrisr.zoo.model_file import load_model

CROP, CORE = 64, 32


def middle_crop(volume, edge: int = CROP):
    box = tuple(
        slice(max(0, n // 2 - edge // 2), n // 2 - edge // 2 + edge) for n in volume.data.shape
    )
    return dataclasses.replace(volume, data=np.ascontiguousarray(volume.data[box]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["mni-x2-iso-full", "mni-x4-thick-full", "mni-x2-iso", "mni-x4-thick"],
    )
    parser.add_argument("--overlaps", nargs="+", type=int, default=[16, 12, 8])
    args = parser.parse_args()
    cpu = torch.device("cpu")
    print(
        "| model | receptive radius | overlap | seam max | seam p99.9 | sample tiles | sample overhead |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.models:
        model = load_model(name)
        sample = mni152_lr_x2() if tuple(model.scale) == (2, 2, 2) else mni152_lr_thick_x4()
        crop = middle_crop(sample)
        whole = super_resolve(
            crop, model, device="cpu", tile=crop.data.shape, overlap=0, amp=False
        ).data
        span = float(whole.max() - whole.min())
        net = _runnable(model, cpu)
        radius = receptive_radius(net)
        for overlap in args.overlaps:
            tiled = super_resolve(
                crop, model, device="cpu", tile=CORE, overlap=overlap, amp=False
            ).data
            error = np.abs(tiled - whole) / span
            with autocast(cpu, True):
                plan = plan_tiles(sample.data.shape, net, cpu, overlap=overlap)
            print(
                f"| {name} | {radius} | {overlap} | {error.max():.1e} | {np.quantile(error, 0.999):.1e} "
                f"| {len(plan.boxes())} | {plan.overhead:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
