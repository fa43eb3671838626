"""The slice profile estimated from the scan alone against the true one, on simulated acquisitions.

Each head (the MNI152 template, and any real 1 mm scans given with ``--subject``, their axes
turned to RAS; see ``real_scans.py``) is sliced along S-I with
:func:`napari_mrisr.volume.slice_profile.simulate_slices`: rect and Gaussian profiles, slice
ratios 2.5, 4 and 5, thickness 0.6, 0.8, 1 and 1.3 times the spacing (a gap, a small gap,
contiguous, overlapping). For each, :func:`napari_mrisr.selfsr.profile_estimate.estimate_profile`
gives a shape and a FWHM; the table shows its error, the FWHM it found in the true family (so a
confusion of shapes, which changes the FWHM by about a third for nearly the same sampled data,
is told from an error of width), whether the truth lies in the reported range, and the time.
For each head it also prints the content's power along each axis: the estimate ignores a
level that differs between directions, but where the difference changes with frequency it errs
(it cannot tell that from a profile). ``--equalise`` first makes each head equally sharp in
every direction, as the estimate assumes (:func:`equalise`), which tells the method's error
from the reference's. ``--dipy`` also estimates the profile of dipy's real 4 x 4 x 5 mm
``aniso_vox.nii.gz`` (no truth is known there); ``--crop`` takes the in-plane box of
``selfsr_vs_eclare.py``:

    python benchmarks/profile_estimate.py [--subject DIR/ch2.nii.gz ...] [--equalise] [--dipy]
        [--ratios 4] [--crop 64 80] [--no-mni]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from napari_mrisr.selfsr.profile_estimate import estimate_profile
from napari_mrisr.volume import sample
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.geometry import superior_axis
from napari_mrisr.volume.slice_profile import SliceProfile, simulate_slices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generalisation import read_subject  # noqa: E402 (a real scan, axes turned to RAS)
from machine import describe_machine  # noqa: E402
from selfsr_vs_eclare import add_crop_argument, crop_in_plane  # noqa: E402

RATIOS = (2.5, 4.0, 5.0)
#: Slice thickness (FWHM) in slice spacings.
THICKNESS = (0.6, 0.8, 1.0, 1.3)


def run_head(hr: Volume, label: str, ratios, rows: list) -> None:
    axis = superior_axis(hr.affine)
    mm = float(hr.spacing[axis])
    print(f"\n## {label}: {' x '.join(map(str, hr.shape))} voxels of {np.round(hr.spacing, 3)} mm")
    print(
        "| true shape | true FWHM | ratio | estimated shape | estimated FWHM | error | "
        "FWHM in true shape | its error | range | truth in range | shape margin | at the edge | "
        "seconds |"
    )
    print("| --- " * 13 + "|")
    for profile in SliceProfile:
        for ratio in ratios:
            for share in THICKNESS:
                spacing, fwhm = ratio * mm, share * ratio * mm
                lr = simulate_slices(hr, spacing, fwhm, profile, axis=axis)
                start = time.perf_counter()
                est = estimate_profile(lr)
                seconds = time.perf_counter() - start
                same = est.profile == profile
                in_family = est.fwhm if same else est.other_fwhm
                inside = same and est.fwhm_low <= fwhm <= est.fwhm_high
                row = (same, est.fwhm / fwhm - 1, in_family / fwhm - 1, inside, est.at_search_edge)
                rows.append(row)
                print(
                    f"| {profile} | {fwhm:.2f} | {ratio:g} | {est.profile} | {est.fwhm:.2f} | "
                    f"{row[1]:+.0%} | {in_family:.2f} | {row[2]:+.0%} | "
                    f"{est.fwhm_low:.2f}-{est.fwhm_high:.2f} | {'yes' if inside else 'no'} | "
                    f"{est.shape_margin:.2f} | {'yes' if est.at_search_edge else 'no'} | "
                    f"{seconds:.1f} |",
                    flush=True,
                )


#: Bands (cycles/mm) of the directional power: at 4-5 mm slices, below and about the slices'
#: Nyquist frequency, the in-plane detail that aliasing folds into it, and the finest detail
#: (where a reference resampled from a coarser grid has none).
BANDS = ((0.03, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, 0.5))
#: Length (mm) of the windows of :func:`axis_spectra`, and how far inside the head they stay.
SPECTRUM_WINDOW, SPECTRUM_INSIDE = 32, 8


def axis_spectra(hr: Volume) -> tuple[np.ndarray, np.ndarray]:
    """The head's mean power spectrum along each axis (first-differenced, Hann-tapered windows
    of :data:`SPECTRUM_WINDOW` mm inside the head eroded by :data:`SPECTRUM_INSIDE` mm):
    the frequencies (cycles/mm, of the first axis's spacing) and a (3, frequencies) array."""
    import scipy.ndimage

    from napari_mrisr.volume.metrics import foreground_mask

    inside = scipy.ndimage.distance_transform_edt(foreground_mask(hr), sampling=hr.spacing)
    inside = inside > SPECTRUM_INSIDE
    n = int(round(SPECTRUM_WINDOW / hr.spacing[0]))
    power = []
    for axis in range(3):
        lines = np.lib.stride_tricks.sliding_window_view(np.moveaxis(hr.data, axis, -1), n, -1)
        ok = np.lib.stride_tricks.sliding_window_view(np.moveaxis(inside, axis, -1), n, -1)
        windows = np.diff(lines[..., :: n // 2, :][ok[..., :: n // 2, :].all(-1)], axis=-1)
        windows = windows - windows.mean(-1, keepdims=True)
        power.append((np.abs(np.fft.rfft(windows * np.hanning(n + 1)[1:-1], axis=-1)) ** 2).mean(0))
    return np.fft.rfftfreq(n - 1, hr.spacing[0]), np.array(power)


def directional_power(hr: Volume) -> None:
    """The head's power along each axis relative to the mean of the three, per band: how far
    the content's statistics differ between directions; where that difference changes from
    band to band, a second-order estimate cannot tell it from the profile."""
    import nibabel as nib

    f, spectra = axis_spectra(hr)
    power = np.array([[row[(f >= lo) & (f < hi)].mean() for lo, hi in BANDS] for row in spectra])
    power = power / power.mean(axis=0)
    bands = " / ".join(f"{lo:g}-{hi:g}" for lo, hi in BANDS)
    codes = nib.aff2axcodes(hr.affine)
    print(
        f"directional power relative to the mean of the axes, at {bands} cycles/mm: "
        + "; ".join(
            f"{code} {' / '.join(f'{v:.2f}' for v in row)}"
            for code, row in zip(codes, power, strict=True)
        )
    )


#: Highest frequency (cycles/mm) that :func:`equalise` keeps.
EQUALISE_UP_TO = 0.33


def equalise(hr: Volume, rounds: int = 4) -> Volume:
    """The head made equally sharp in every direction, as the estimate assumes: nothing above
    :data:`EQUALISE_UP_TO` along any axis (ds000240 has nothing above it along S-I), and below
    it a filter along S-I that gives the spectrum there the shape of the in-plane axes' (their
    geometric mean; the level at the lowest frequency kept). What is left of the error on it is
    the method's; the difference to the head as it is, the reference's. A filter along S-I also
    changes the in-plane lines' spectra (each sums the power over all S-I frequencies), so it is
    applied again, ``rounds`` times, each from the spectra it left."""
    axis = superior_axis(hr.affine)
    data = hr.data.astype(np.float64)
    for each in range(3):
        f = np.fft.rfftfreq(hr.shape[each], hr.spacing[each])
        shape = [1, 1, 1]
        shape[each] = -1
        cut = (f <= EQUALISE_UP_TO).reshape(shape)
        data = np.fft.irfft(np.fft.rfft(data, axis=each) * cut, n=hr.shape[each], axis=each)
    along = np.fft.rfftfreq(hr.shape[axis], hr.spacing[axis])
    shape = [1, 1, 1]
    shape[axis] = -1
    for _ in range(rounds):
        f, spectra = axis_spectra(Volume(data, hr.affine))
        in_plane = np.exp(np.log(np.delete(spectra, axis, axis=0)).mean(axis=0))
        gain = np.sqrt(in_plane[1:] / spectra[axis, 1:])
        gain, f = gain / gain[0], f[1:]
        shaped = f <= EQUALISE_UP_TO
        filt = np.interp(np.clip(along, f[0], EQUALISE_UP_TO), f[shaped], gain[shaped])
        filt[along < f[0]] = 1.0
        data = np.fft.irfft(
            np.fft.rfft(data, axis=axis) * filt.reshape(shape), n=hr.shape[axis], axis=axis
        )
    return Volume(data.astype(np.float32), hr.affine, name=f"{hr.name}, equalised")


def summary(rows: list, label: str) -> None:
    same, error, in_family, inside, edge = (np.array(c) for c in zip(*rows, strict=True))
    print(
        f"\n{label}: shape right in {same.mean():.0%} of {len(rows)}; |FWHM error| median "
        f"{np.median(np.abs(error)):.0%}, max {np.abs(error).max():.0%}; in the true shape: "
        f"median {np.median(np.abs(in_family)):.0%}, max {np.abs(in_family).max():.0%}; "
        f"truth in the range in {inside.mean():.0%}; at the edge of the widths searched (the "
        f"note asks for the thickness) in {edge.sum()}"
    )


def run_dipy() -> None:
    import dipy

    from napari_mrisr.volume.io import load_volume

    path = Path(dipy.__file__).parent / "data" / "files" / "aniso_vox.nii.gz"
    scan = load_volume(path)
    start = time.perf_counter()
    est = estimate_profile(scan)
    seconds = time.perf_counter() - start
    print(f"\n## dipy aniso_vox.nii.gz: {scan.shape}, spacing {np.round(scan.spacing, 3)} mm")
    print(f"slice profile: {est.describe()}")
    print(
        f"FWHM range {est.fwhm_low:.2f}-{est.fwhm_high:.2f} mm; mismatch {est.residual:.2e}, "
        f"other shape {est.other_profile} {est.other_fwhm:.2f} mm ({est.other_residual:.2e}); "
        f"{seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", type=Path, nargs="*", default=[], help="real 1 mm heads")
    parser.add_argument("--dipy", action="store_true", help="also run on dipy's aniso_vox.nii.gz")
    parser.add_argument("--no-mni", action="store_true", help="skip the MNI152 template")
    parser.add_argument("--ratios", type=float, nargs="*", default=list(RATIOS))
    add_crop_argument(
        parser, "crop each head in-plane to X x Y mm around the brain (as selfsr_vs_eclare.py)"
    )
    parser.add_argument(
        "--equalise",
        action="store_true",
        help="make each head equally sharp in every direction first (see equalise)",
    )
    args = parser.parse_args()
    print(describe_machine())
    every: list = []
    heads = [] if args.no_mni else [(sample.mni152_hr(), "MNI152 T1 template (1 mm)")]
    heads += [(read_subject(path), path.name) for path in args.subject]
    for hr, label in heads:
        if args.equalise:
            hr, label = equalise(hr), f"{label}, equalised"
        if args.crop:
            hr = crop_in_plane(hr, tuple(args.crop), superior_axis(hr.affine))
            label = f"{label}, cropped in-plane to {args.crop[0]:g} x {args.crop[1]:g} mm"
        rows: list = []
        run_head(hr, label, args.ratios, rows)
        directional_power(hr)
        summary(rows, label)
        every += rows
    if len(heads) > 1:
        summary(every, "all heads")
    if args.dipy:
        run_dipy()


if __name__ == "__main__":
    main()
