"""Comparing a self-supervised SR result whose slice ratio is not a whole number (1 x 1 x 2.5 mm,
or 0.9 mm in-plane under 5 mm slices): its cubic baseline, maps and metrics on its own grid."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr.progress import run_to_end
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.comparison import (
    data_consistency,
    grid_ratios,
    iter_compare,
    slices_degradation,
)
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.slice_profile import simulate_slices

from ..phantoms import head_phantom, oblique_affine

SPACING = (0.9, 1.1, 1.0)  # mm; slices 2.5 mm apart along the last axis, 2 mm thick (a gap)


@pytest.fixture
def scan():
    hr = Volume(head_phantom((18, 20, 31)), oblique_affine(SPACING), "hr")
    lr = simulate_slices(hr, 2.5, 2.0, "rect", axis=2)
    return hr, lr


def test_the_cubic_baseline_lands_on_the_hr_grid_at_a_fractional_ratio(scan):
    hr, lr = scan
    assert lr.shape == (18, 20, 12)  # floor(31 / 2.5)
    cubic = upsample(lr, (1, 1, 2.5))
    assert cubic.shape == (18, 20, 30)  # floor(2.5 * 12): the HR voxels in the LR's field of view
    np.testing.assert_allclose(cubic.affine, hr.affine, atol=1e-9)  # the same voxels in mm
    assert grid_ratios(lr, cubic) == (1, 1, 2.5)
    assert grid_ratios(lr, upsample(lr, (1, 1, 2))) == (1, 1, 2)
    whole = upsample(lr, (1.0, 1.0, 2.0))  # a ratio that is a whole number is that factor
    np.testing.assert_array_equal(whole.data, upsample(lr, (1, 1, 2)).data)


def test_the_truth_is_consistent_with_its_own_slices_and_a_moved_volume_is_not(scan):
    hr, lr = scan
    truth = Volume(hr.data[:, :, :30], hr.affine, "truth")
    told = slices_degradation({"thickness": 2.0, "profile": "rect", "axis": 2})
    consistency = data_consistency(truth, lr, told)
    assert consistency.name == "data consistency (rect slices, 2 mm)"
    assert consistency.shape == lr.shape
    np.testing.assert_allclose(consistency.affine, lr.affine)
    assert np.abs(consistency.data).max() < 1e-4 * np.abs(lr.data).max()
    moved = Volume(np.roll(truth.data, 1, axis=2), truth.affine, "moved")
    assert np.abs(data_consistency(moved, lr, told).data).max() > 0.05 * np.abs(lr.data).max()
    # without the profile, contiguous rect slices are assumed: the gap then shows
    assert np.abs(data_consistency(truth, lr).data).max() > 1e-3 * np.abs(lr.data).max()
    foreign = slices_degradation({"thickness": "thin", "profile": "hann"})  # not our record
    assert data_consistency(truth, lr, foreign).name == "data consistency (rect slices, 2.5 mm)"


def test_a_fractional_ratio_result_compares_with_metrics_and_every_map(scan):
    hr, lr = scan
    rng = np.random.default_rng(0)
    noisy = hr.data[:, :, :30] + rng.normal(0, 0.01 * hr.data.max(), (18, 20, 30))
    sr = Volume(noisy.astype(np.float32), hr.affine, "sr")
    told = slices_degradation({"thickness": 2.0, "profile": "rect"})
    result = run_to_end(iter_compare(lr, sr, hr, degradation=told, sr_label="self-SR"))
    assert result.cubic.shape == sr.shape
    keys = ["sr_error", "cubic_error", "sr_minus_cubic", "consistency"]
    assert [m.key for m in result.maps] == keys
    assert result.metrics["self-SR"]["psnr"] > result.metrics["cubic"]["psnr"]
    off_grid = Volume(sr.data[:, :, :29], sr.affine, "off")
    with pytest.raises(ValueError, match="pick the LR volume the SR was made from"):
        run_to_end(iter_compare(lr, off_grid))
