"""Interpolation baselines on the built-in sample: the bar every SR model must beat.

For the MNI152 sample's LR x2 (isotropic, k-space) and LR thick-slice x4 (inferior-superior),
upsample with nearest / trilinear / cubic B-spline onto the HR grid and print PSNR and SSIM
against HR, inside the brain mask and on the whole volume, as a Markdown table.

    python benchmarks/baselines.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_mrisr.volume import metrics, sample
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import crop_to_multiple
from napari_mrisr.volume.interpolate import INTERPOLATORS, upsample


def factors_between(lr: Volume, hr: Volume) -> tuple[int, int, int]:
    return tuple(int(round(f)) for f in lr.spacing / hr.spacing)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    hr_full = sample.mni152_hr()
    tasks = {"LR x2 (k-space)": sample.mni152_lr_x2(), "LR thick x4 (S-I)": sample.mni152_lr_thick_x4()}
    print("| task | method | PSNR brain (dB) | SSIM brain | PSNR whole (dB) | SSIM whole | time (s) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for task, lr in tasks.items():
        factors = factors_between(lr, hr_full)
        hr = crop_to_multiple(hr_full.data, factors)
        mask = metrics.foreground_mask(hr)
        data_range = float(hr.max() - hr.min())
        for method in INTERPOLATORS:
            start = time.perf_counter()
            up = upsample(lr, factors, order=method)
            seconds = time.perf_counter() - start
            assert np.allclose(up.affine, hr_full.affine, atol=1e-6), "baseline is off the HR grid"
            row = [
                metrics.psnr(up, hr, data_range, mask=mask),
                metrics.ssim(up, hr, data_range, mask=mask),
                metrics.psnr(up, hr, data_range),
                metrics.ssim(up, hr, data_range),
            ]
            print(
                f"| {task} | {method} | {row[0]:.2f} | {row[1]:.4f} | {row[2]:.2f} | {row[3]:.4f} "
                f"| {seconds:.2f} |"
            )
    print(f"\nBrain mask: {mask.sum()} voxels ({100 * mask.mean():.1f}% of the volume); data range {data_range:g}.")


if __name__ == "__main__":
    main()
