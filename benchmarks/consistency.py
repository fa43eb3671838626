"""How much of each model's error lies in what the LR measured, and what projecting onto it does.

For each bundled model (or ``--bundled`` ones), on the held-out MNI slab of ``quality.py``
degraded as in ``generalisation.py`` (the task's nominal acquisition, a Gaussian one instead,
the nominal one with 2% Rician noise): the PSNR gain over cubic (brain mask) of the model's
output, and of that output projected onto the LR under the task's nominal forward model
(``napari_mrisr.volume.comparison.project_onto_lr``, weight 1: the nearest volume that the forward model
takes exactly to the LR). Where the acquisition is the nominal one and noise-free, the
projection only removes error and its gain is the share of the error that the LR already
measured; under another acquisition or noise it shows what trusting the LR costs.

    python benchmarks/consistency.py [--bundled NAME ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generalisation import cases  # noqa: E402 (the slab's three acquisitions)
from quality import TASKS, scores, task_of  # noqa: E402

from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.volume.comparison import project_onto_lr
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.zoo.folders import list_models
from napari_mrisr.zoo.model_file import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundled", nargs="*", help="only these bundled models (default: all)")
    args = parser.parse_args()
    models = [info for info in list_models() if info.bundled and (args.bundled is None or info.name in args.bundled)]
    for task, degradation in TASKS.items():
        task_models = [info for info in models if task_of(info.meta) == task]
        pairs = cases(degradation, {})
        method = str(degradation.method)
        gains: dict[str, list[str]] = {info.name: [] for info in task_models}
        for pair in pairs.values():
            results = {"cubic": upsample(pair.lr, pair.factors, order="cubic")}
            for info in task_models:
                sr = super_resolve(pair.lr, load_model(info.path))
                results[info.name] = sr
                results[info.name + " projected"] = project_onto_lr(sr, pair.lr, method)
            table = scores(results, pair)
            cubic = table["cubic"]["psnr_brain"]
            for info in task_models:
                plain, projected = (table[key]["psnr_brain"] - cubic for key in (info.name, info.name + " projected"))
                gains[info.name].append(f"{plain:+.2f} | {projected:+.2f}")
        print(f"\n### {task}: PSNR gain over cubic (dB, brain mask), as is | projected onto the LR ({method})\n")
        print("| model | " + " | ".join(f"{case} | projected" for case in pairs) + " |")
        print("| --- |" + " ---: | ---: |" * len(pairs))
        for name, row in gains.items():
            print(f"| {name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
