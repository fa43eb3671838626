"""Train the reference recipes with one time budget each, for the quality table.

Every recipe (a preset in ``training/configs``) runs on both tasks of
``benchmarks/quality.py`` (x2 isotropic k-space; x4 thick-slice, where the slice-wise srgan2d
belongs) on the MNI152 sample with the shipped models' slab split, with the same patches
(32^3 voxels, 4 per step) and the same wall-clock budget on this machine:

- content phase: the recipe's generator and content losses (its pre-training), half the budget
  (the whole budget for a content-only recipe); exported as ``RECIPE-TASK-content``;
- adversarial phase: the recipe's discriminator and GAN losses, starting from the content model,
  the other half; its last checkpoint exported as ``RECIPE-TASK-gan``.

Each phase runs the recipe's own schedule until the budget stops it; the step counts reached are
in each model file's metadata and in ``OUT/references.jsonl``::

    python benchmarks/train_references.py [--minutes 6] [--out runs/references] [--recipes ...]
    python benchmarks/quality.py --models runs/references/*.safetensors
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from napari_mrisr.training.config import load_config
from napari_mrisr.training.engine import fit
from napari_mrisr.training.export import export
from napari_mrisr.zoo.metadata import read_metadata

TASKS = {
    "x2": {"method": "kspace", "factors": [2, 2, 2]},
    "x4": {"method": "thick_slice", "factors": [1, 1, 4]},
}
# Preset -> tasks it is run on (slice-wise srgan2d only super-resolves through-plane).
RECIPES = {
    "srgan3d_lsgan": ("x2", "x4"),
    "edsr3d_mse": ("x2", "x4"),
    "rrdb3d_patch": ("x2", "x4"),
    "dcsrn_wgan_gp": ("x2", "x4"),
    "srgan2d": ("x4",),
}
SHARED = {
    "data.paths": [],
    "data.validation_fraction": 0.15,
    "data.slab_gap": 8,
    "data.batch_size": 4,
    "data.num_workers": 1,
    "validation.tile": 48,
    "validation.sample_slices": 1,
}


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _phase(preset: str, overrides: dict, seconds: float) -> tuple[Path, dict]:
    """One fit, a single epoch cut at ``seconds`` and validated at the end; its last checkpoint
    exported (for a GAN that is the adversarial result, not the best-PSNR one)."""
    config = load_config(preset, {**overrides, "trainer.max_time": _clock(seconds)})
    if config.run_dir.exists():
        shutil.rmtree(config.run_dir)
    start = time.perf_counter()
    result = fit(config, progress_bar=False)
    elapsed = time.perf_counter() - start
    if result["status"] != "finished":
        raise RuntimeError(f"{config.name}: {result['status']}: {result['message']}")
    model = export(result["last"], config.run_dir.parent / f"{config.name}.safetensors")
    steps = read_metadata(model)["training"]["steps"]
    return model, {"model": model.name, "steps": steps, "seconds": round(elapsed), "validation": result["validation"]}


def train_recipe(preset: str, task: str, minutes: float, out: Path) -> list[dict]:
    base = load_config(preset)
    adversarial = base.discriminator.architecture != "none"
    patch = [8, 64, 64] if base.generator.architecture == "srgan2d" else [32, 32, 32]
    overrides = {
        **SHARED,
        "output_dir": str(out),
        "degradation.method": TASKS[task]["method"],
        "degradation.factors": TASKS[task]["factors"],
        "data.patch_size": patch,
    }
    budget = minutes * 60
    content = {
        **overrides,
        "name": f"{preset}-{task}-content",
        "discriminator.architecture": "none",
        "schedule.adversarial_steps": 0,
        "schedule.pretrain_steps": base.schedule.pretrain_steps or base.schedule.adversarial_steps,
    }
    content["schedule.steps_per_epoch"] = content["schedule.pretrain_steps"]  # one validation, at the end
    model, record = _phase(preset, content, budget / 2 if adversarial else budget)
    records = [record]
    if adversarial:
        gan = {
            **overrides,
            "name": f"{preset}-{task}-gan",
            "generator.init_weights": str(model),
            "schedule.pretrain_steps": 0,
            "schedule.steps_per_epoch": base.schedule.adversarial_steps,
        }
        records.append(_phase(preset, gan, budget / 2)[1])
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="budget per recipe and task")
    parser.add_argument("--out", type=Path, default=Path("runs/references"))
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / "references.jsonl"
    for task in args.tasks:
        for preset in args.recipes:
            if task not in RECIPES[preset]:
                continue
            for record in train_recipe(preset, task, args.minutes, args.out):
                print(json.dumps(record), flush=True)
                with summary.open("a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
