"""The slice profile estimated from a thick-slice scan alone (selfsr.profile_estimate), against
the profile that made it; ``plan_grid(profile="auto")`` and the CLI's default use it.

The head is the MNI152 template (whole: the estimate needs the brain's many edges) sliced along
S-I at 4 mm (ratio 4), as ``benchmarks/profile_estimate.py`` does over more ratios and heads.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_mrisr.cli import main
from napari_mrisr.selfsr import profile_estimate
from napari_mrisr.selfsr.grid import AUTO, plan_grid
from napari_mrisr.selfsr.profile_estimate import estimate_profile
from napari_mrisr.volume import sample
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import save_volume
from napari_mrisr.volume.slice_profile import simulate_slices

SPACING = 4.0


@pytest.fixture(scope="module")
def head() -> Volume:
    return sample.mni152_hr()


def _fwhm_in_family(estimate, profile: str) -> float:
    """The FWHM found in the true shape family (a rect and a Gaussian about 0.7 times as wide
    make nearly the same slices, so the shape may be told wrongly; the width must not be)."""
    return estimate.fwhm if estimate.profile == profile else estimate.other_fwhm


@pytest.mark.parametrize("profile", ["rect", "gaussian"])
def test_the_estimated_thickness_follows_the_true_one_in_its_shape(head, profile):
    found = {}
    for share in (0.6, 1.0, 1.3):  # a gap, contiguous, overlapping
        fwhm = share * SPACING
        estimate = estimate_profile(simulate_slices(head, SPACING, fwhm, profile, axis=2))
        assert estimate.axis == 2 and estimate.spacing == pytest.approx(SPACING)
        found[share] = _fwhm_in_family(estimate, profile)
        assert found[share] == pytest.approx(fwhm, rel=0.3), (profile, fwhm, estimate)
    # a fixed answer fails here: thicker slices, a larger estimate, in proportion
    assert found[0.6] < found[1.0] < found[1.3]
    assert found[1.3] / found[0.6] > 1.5


def test_the_estimate_does_not_jump_with_where_the_field_of_view_starts(head):
    # Sampled at one phase only, a head's in-plane content aliased differently with the crop:
    # 4.26, 2.89 and 2.81 mm for these three crops of the same 4 mm slices.
    lr = simulate_slices(head, SPACING, SPACING, "rect", axis=2)
    found = []
    for start in (0, 2, 3):
        affine = lr.affine.copy()
        affine[:3, 3] += affine[:3, :3] @ [start, start, 0]
        estimate = estimate_profile(Volume(lr.data[start:, start:], affine, "crop"))
        found.append(_fwhm_in_family(estimate, "rect"))
    assert found == pytest.approx([SPACING] * 3, rel=0.12), found
    assert max(found) / min(found) < 1.15, found


def test_auto_plans_the_estimate_and_says_so_and_a_typed_thickness_wins(head):
    lr = simulate_slices(head, SPACING, 0.6 * SPACING, "rect", axis=2)
    grid = plan_grid(lr, profile=AUTO)
    estimate = estimate_profile(lr)
    assert (grid.thickness, grid.profile) == (pytest.approx(estimate.fwhm), estimate.profile)
    assert grid.estimate["fwhm"] == pytest.approx(estimate.fwhm, abs=1e-5)
    assert grid.estimate["note"].startswith("Slice profile estimated from the scan: ")
    assert "mm gap" in grid.estimate["note"]  # 2.4 mm slices 4 mm apart
    assert grid.estimate["at_search_edge"] is False and grid.estimate["source"] == "scan"
    assert grid.to_meta()["estimate"] == grid.estimate  # into the result's and model's metadata
    typed = plan_grid(lr, profile=AUTO, thickness=3.0)
    assert (typed.thickness, typed.profile, typed.estimate) == (3.0, "rect", None)


def test_a_scan_too_small_to_measure_falls_back_to_contiguous_rect_slices_and_says_why():
    tiny = Volume(np.random.default_rng(0).random((12, 10, 4)), np.diag([1.0, 1.0, 4.0, 1.0]), "tiny")
    grid = plan_grid(tiny, profile=AUTO)
    assert (grid.thickness, grid.profile) == (4.0, "rect")
    assert set(grid.estimate) == {"note"} and grid.estimate["note"].endswith("Assuming contiguous rect slices.")
    assert "too few slices of foreground" in grid.estimate["note"]


def test_a_fit_at_the_edge_of_the_widths_tried_is_used_and_the_note_asks_for_the_thickness(
    head, monkeypatch
):
    # 3 mm slices 5 mm apart, with widths from 4 mm up tried: the fit runs to the thinnest
    monkeypatch.setattr(profile_estimate, "FWHM_RANGE", (0.8, 2.5))
    lr = simulate_slices(head, 5.0, 3.0, "rect", axis=2)
    estimate = estimate_profile(lr)
    assert estimate.at_search_edge and estimate.fwhm == pytest.approx(0.8 * 5.0, rel=0.02)
    grid = plan_grid(lr, profile=AUTO)
    assert (grid.thickness, grid.profile) == (pytest.approx(estimate.fwhm), estimate.profile)
    assert grid.estimate["at_search_edge"] is True
    assert grid.estimate["note"].startswith("Slice profile estimated from the scan: ")
    assert grid.estimate["note"].endswith("type the slice thickness if you know it.")


def test_a_fit_just_inside_the_edge_whose_near_equals_reach_it_counts_as_at_the_edge():
    # ds000240 cropped to the brain's centre, contiguous 4 mm slices: the mismatch rose from the
    # thinnest width tried on, with its shallow minimum at 1.2 mm (the widths tried start at 1 mm)
    estimate = profile_estimate.ProfileEstimate(
        profile="rect", fwhm=1.2, spacing=4.0, axis=2, residual=1.9e-3, other_fwhm=1.0,
        other_residual=2.7e-3, fwhm_low=1.0, fwhm_high=1.85,
    )  # fmt: skip
    assert estimate.at_search_edge
    assert not dataclasses.replace(estimate, fwhm_low=1.1).at_search_edge


def test_mrisr_selfsr_prints_the_estimate_before_training(head, tmp_path, capsys):
    lr = simulate_slices(head, SPACING, SPACING, "gaussian", axis=2)
    small = Volume(lr.data[32:96, 32:96], lr.affine, "scan")  # still 40 slices, 64 x 64 in-plane
    save_volume(small, tmp_path / "scan.nii.gz")
    args = ["selfsr", str(tmp_path / "scan.nii.gz"), str(tmp_path / "sr.nii.gz"), "--steps", "1", "--device", "cpu"]
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "Slice profile estimated from the scan: " in printed
    assert printed.index("Slice profile estimated") < printed.index("wrote")


def test_auto_takes_the_thickness_a_dicom_series_states_without_estimating(tmp_path, monkeypatch):
    from napari_mrisr.dicom import load_series
    from napari_mrisr.selfsr import grid as grid_module

    from ..dicom.helpers import write_series
    from ..dicom.test_reading import FLIP
    from ..phantoms import head_phantom

    # 3 mm slices every 5 mm, as the scanner states them in SliceThickness
    folder = write_series((head_phantom((24, 24, 8)) * 10).round(), np.diag([1.0, 1.0, 5.0, 1.0]) @ FLIP,
                          tmp_path / "T2_axial", thickness=3.0)  # fmt: skip
    scan = load_series(folder)

    def refuse(*_):
        raise AssertionError("the scan was estimated although its header states the thickness")

    monkeypatch.setattr(grid_module, "estimate_profile", refuse)
    grid = plan_grid(scan, profile=AUTO)
    assert (grid.thickness, grid.profile) == (3.0, "rect")
    assert grid.estimate["source"] == "dicom" and grid.estimate["fwhm"] == 3.0
    assert grid.estimate["note"] == (
        "Slice thickness from the DICOM header: 3 mm, taken as a rect profile (spacing 5 mm: a 2 mm gap)."
    )
    assert grid.to_meta()["estimate"] == grid.estimate  # into the result's and model's metadata
    typed = plan_grid(scan, profile=AUTO, thickness=4.0)  # the user's word still wins
    assert (typed.thickness, typed.estimate) == (4.0, None)
    assert plan_grid(scan, profile="gaussian").thickness == 5.0  # a shape typed: the header is not read


def test_a_stated_thickness_along_another_axis_is_not_taken_for_the_slices(head):
    lr = simulate_slices(head, SPACING, 0.6 * SPACING, "rect", axis=2)
    resliced = Volume(lr.data, lr.affine, "resliced", {"dicom": {"thickness_mm": 1.0, "slice_axis": 0}})
    grid = plan_grid(resliced, profile=AUTO)  # its DICOM slices were along axis 0: estimated
    assert grid.estimate["note"].startswith("Slice profile estimated from the scan: ")
    assert grid.thickness == pytest.approx(estimate_profile(lr).fwhm)


def test_a_sidecar_whose_spacing_is_not_the_scan_s_is_not_taken(head):
    lr = simulate_slices(head, SPACING, 0.6 * SPACING, "rect", axis=2)
    stated = {"file": "scan.json", "thickness_mm": 1.0, "slice_axis": 2}
    grid = plan_grid(Volume(lr.data, lr.affine, "scan", {"sidecar": stated}), profile=AUTO)
    assert (grid.thickness, grid.estimate["source"]) == (1.0, "sidecar")
    resampled = {**stated, "spacing_mm": 2 * SPACING}  # the file was resampled after conversion
    grid = plan_grid(Volume(lr.data, lr.affine, "scan", {"sidecar": resampled}), profile=AUTO)
    assert grid.estimate["source"] == "scan"


def test_a_scan_barely_wider_than_one_slice_spacing_in_plane_is_still_measured():
    # 5 voxels across at ratio 4: the later sampling phases hold no whole slice and are left out
    # (they made profile_matrix refuse the scan with a sentence about voxels and slices)
    data = np.random.default_rng(0).random((5, 60, 30)).astype(np.float32) + 1
    scan = Volume(data, np.diag([1.0, 1.0, 4.0, 1.0]), "narrow")
    estimate = estimate_profile(scan, mask=np.ones(scan.shape, dtype=bool))
    assert estimate.axis == 2 and estimate.spacing == pytest.approx(4.0)
