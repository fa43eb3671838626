"""Self-supervised SR of one anisotropic scan: geometry, forward model, training, fusion, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mrisr import zoo
from napari_mrisr.cli import main
from napari_mrisr.engine.inference import intensity_range, super_resolve
from napari_mrisr.engine.precision import autocast
from napari_mrisr.models import build_model
from napari_mrisr.progress import run_to_end
from napari_mrisr.selfsr.apply import PlanePreview, disagreement_map, iter_apply
from napari_mrisr.selfsr.grid import plan_grid, resample_matrix
from napari_mrisr.selfsr.run import iter_selfsr
from napari_mrisr.selfsr.train import PREVIEWS, Budget, iter_train
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.geometry import upsampled_affine
from napari_mrisr.volume.io import load_volume, save_volume
from napari_mrisr.volume.slice_profile import profile_matrix, simulate_slices

from ..phantoms import head_phantom, oblique_affine

TINY = Budget(features=8, num_blocks=2, patch=16, batch=8, steps=4, lr=2e-3)
#: Two bfloat16 runs (the default where the CPU computes it natively) that round in another
#: order, e.g. in another memory layout, agree to this fraction of the data range.
BF16_RANGE = 1e-2


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks gain nothing from threads, and oversubscribed CI cores make them crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _hr(shape=(24, 20, 32), spacing=(1.0, 1.0, 1.0), angle=0.3) -> Volume:
    return Volume(head_phantom(shape), oblique_affine(spacing, angle=angle), name="hr")


def _world(affine: np.ndarray, index: np.ndarray) -> np.ndarray:
    return affine[:3, :3] @ index + affine[:3, 3]


@pytest.mark.parametrize(
    ("spacing", "axis", "ratio", "factor"),
    [((1.0, 1.0, 4.0), 2, 4.0, 4), ((0.9, 5.0, 0.9), 1, 5 / 0.9, 6), ((2.0, 2.0, 3.0), 2, 1.5, 2)],
)
def test_grid_reads_axis_and_real_ratio_and_keeps_the_field_of_view(spacing, axis, ratio, factor):
    affine = oblique_affine(spacing, angle=0.4)
    affine[:3, 0] *= -1  # a flipped axis as well as a rotation
    volume = Volume(np.zeros((10, 12, 9)), affine, "scan")
    grid = plan_grid(volume)
    assert grid.axis == axis and grid.ratio == pytest.approx(ratio) and grid.factor == factor
    out = grid.out_affine(affine)
    out_spacing = np.sqrt((out[:3, :3] ** 2).sum(0))
    assert out_spacing[axis] == pytest.approx(min(s for a, s in enumerate(spacing) if a != axis))
    assert grid.n_out == int(np.floor(ratio * volume.shape[axis] + 1e-6))
    # The first edge of the field of view is the same in mm: output voxel -0.5 = slice -0.5.
    edge = np.zeros(3)
    edge[axis] = -0.5
    np.testing.assert_allclose(_world(out, edge), _world(affine, edge), atol=1e-9)
    # Slice i's centre is output coordinate r*i + (r-1)/2 (the grid rule with a real ratio).
    out_index = np.zeros(3)
    out_index[axis] = grid.ratio * 3 + (grid.ratio - 1) / 2
    lr_index = np.zeros(3)
    lr_index[axis] = 3
    np.testing.assert_allclose(_world(out, out_index), _world(affine, lr_index), atol=1e-9)


def test_grid_for_integer_ratio_is_the_package_grid_rule_and_user_spacing_is_honoured():
    volume = Volume(np.zeros((10, 12, 9)), oblique_affine((1.0, 1.0, 4.0)), "scan")
    grid = plan_grid(volume)
    np.testing.assert_allclose(
        grid.out_affine(volume.affine), upsampled_affine(volume.affine, (1, 1, 4))
    )
    coarse = plan_grid(volume, spacing=2.0)
    assert coarse.out_ratio == 2 and coarse.n_out == 18 and coarse.ratio == 4


def test_isotropic_and_doubly_coarse_scans_are_refused_in_one_sentence():
    with pytest.raises(VolumeError, match="already .*isotropic"):
        plan_grid(Volume(np.zeros((8, 8, 8)), np.diag([1.0, 1.0, 1.1, 1.0])))
    with pytest.raises(VolumeError, match="two coarse axes"):
        plan_grid(Volume(np.zeros((8, 8, 8)), np.diag([1.0, 4.0, 4.0, 1.0])))
    with pytest.raises(ValueError, match="thickness"):
        plan_grid(Volume(np.zeros((8, 8, 8)), np.diag([1.0, 1.0, 4.0, 1.0])), thickness=0)


def test_rect_profile_of_thickness_equal_to_spacing_is_thick_slice():
    hr = _hr()
    expected = simulate_lr(hr, (1, 1, 4), method="thick_slice")
    got = simulate_slices(hr, 4.0, axis=2)
    np.testing.assert_allclose(got.data, expected.data, atol=1e-5)
    np.testing.assert_allclose(got.affine, expected.affine, atol=1e-12)


def test_gap_profile_leaves_voxels_unseen_and_gaussian_is_normalised_and_centred():
    gap = profile_matrix(20, 5.0, 3.0, "rect")  # 5-voxel spacing, 3-voxel slices: a 2-voxel gap
    assert gap.shape == (4, 20)
    np.testing.assert_allclose(gap.sum(1), 1.0)
    np.testing.assert_allclose(gap[1, 5:10], [0, 1 / 3, 1 / 3, 1 / 3, 0], atol=1e-12)
    gauss = profile_matrix(40, 2.5, 2.5, "gaussian")
    np.testing.assert_allclose(gauss.sum(1), 1.0)
    centres = gauss[2:-2] @ np.arange(40.0)
    np.testing.assert_allclose(centres, 2.5 * np.arange(2, 14) + 0.75, atol=1e-9)
    with pytest.raises(ValueError, match="slice profile"):
        profile_matrix(10, 2.0, profile="triangle")


def test_fractional_simulation_puts_slices_on_the_real_grid_rule():
    hr = _hr(spacing=(1.0, 1.0, 0.8))
    lr = simulate_slices(hr, 2.0, thickness=1.6)  # r = 2.5 along the S-I axis (2)
    assert lr.shape == (24, 20, 12)
    np.testing.assert_allclose(lr.spacing, [1.0, 1.0, 2.0], atol=1e-12)
    slice_3 = _world(lr.affine, np.array([0, 0, 3.0]))
    expected = _world(hr.affine, np.array([0, 0, 2.5 * 3 + 0.75]))
    np.testing.assert_allclose(slice_3, expected, atol=1e-9)


def test_resample_matrix_is_identity_for_integers_and_keeps_ramps_for_fractions():
    np.testing.assert_array_equal(resample_matrix(5, 4, 4.0), np.eye(20))
    matrix = resample_matrix(10, 3, 2.5)  # from the 3-fold grid to the 2.5-fold one
    u = np.arange(30.0)
    fine = (u - 1) / 3  # slice coordinate of each 3-fold voxel
    t = np.arange(matrix.shape[0])
    np.testing.assert_allclose((matrix @ fine)[3:-3], ((t - 0.75) / 2.5)[3:-3], atol=1e-9)


def test_training_pairs_are_in_plane_patches_in_all_eight_orientations_degraded_by_the_profile():
    from napari_mrisr.selfsr.pairs import PairSampler

    lr = simulate_slices(_hr((24, 20, 32)), 4.0, axis=2)
    grid = plan_grid(lr)
    # Each voxel holds its own (t, p, q) in-plane-slice coordinates, so a patch tells where it
    # came from and how it was turned.
    t, p, q = np.meshgrid(*(np.arange(n) for n in (8, 24, 20)), indexing="ij")
    coded = np.moveaxis((t * 10_000 + p * 100 + q).astype(np.float32), 0, grid.axis)
    sampler = PairSampler(coded, grid, 12, torch.device("cpu"), np.random.default_rng(0), pool=500)
    lows, highs = zip(*(sampler.sample(16) for _ in range(8)), strict=True)
    low, high = torch.cat(lows)[:, 0].double(), torch.cat(highs)[:, 0]
    assert high.shape[1:] == (sampler.n_target, 12)
    orientations = set()
    for patch in high.numpy().astype(np.int64):
        slice_t, row, col = patch // 10_000, patch // 100 % 100, patch % 100
        assert (slice_t == slice_t[0, 0]).all()  # one in-plane slice
        d_row, d_col = np.diff(row, axis=0), np.diff(col, axis=0)  # one step down the patch
        e_row, e_col = np.diff(row, axis=1), np.diff(col, axis=1)  # one step across it
        assert len(np.unique(d_row)) == len(np.unique(d_col)) == len(np.unique(e_row)) == len(np.unique(e_col)) == 1
        down, across = (d_row.flat[0], d_col.flat[0]), (e_row.flat[0], e_col.flat[0])
        assert sorted(map(abs, down + across)) == [0, 0, 1, 1] and down[0] * across[0] == 0  # a dihedral turn
        orientations.add((down, across))
    assert len(orientations) == 8
    # LR is the slice profile applied along the patch's first axis (x4: the target is whole).
    assert sampler.n_target == 12
    torch.testing.assert_close(sampler.degrade.double() @ high.double(), low)


def test_training_loss_falls_on_a_phantom():
    lr = simulate_slices(_hr((32, 32, 32)), 4.0, axis=2)
    grid = plan_grid(lr)
    spec = Budget(features=8, num_blocks=2, patch=16, batch=8, steps=40, lr=3e-3)
    losses = run_to_end(iter_train(lr, grid, spec, device="cpu", seed=0)).losses
    assert len(losses) == 40 and np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    first, again = (run_to_end(iter_train(lr, grid, TINY, device="cpu", seed=0)) for _ in range(2))
    assert first.losses == again.losses  # deterministic with a seed


def test_hr_to_lr_to_selfsr_lands_on_the_hr_grid_and_fuses_two_orientations():
    hr = _hr((24, 20, 32))
    lr = simulate_lr(hr, (1, 1, 4), method="thick_slice")
    result = run_to_end(iter_selfsr(lr, budget=TINY, device="cpu"))
    assert result.sr.shape == hr.shape
    np.testing.assert_allclose(result.sr.affine, hr.affine, atol=1e-6)
    np.testing.assert_allclose(result.disagreement.affine, hr.affine, atol=1e-6)
    assert (result.disagreement.data >= 0).all()
    # The fused volume is the mean of the two orientations (the 3D module's forward), its
    # negatives set to 0: the scan has no negative voxel (volume.clipping).
    model = result.model
    low, high = intensity_range(lr.data)
    x = torch.from_numpy(((lr.data - low) / (high - low)).astype(np.float32))[None, None]
    with torch.inference_mode(), autocast(torch.device("cpu")):  # the engine's precision
        first, second = (o[0, 0].float().numpy() for o in model.orientations(x))
    fused = 0.5 * (first + second) * (high - low) + low
    np.testing.assert_allclose(result.sr.data, np.maximum(fused, 0), atol=1e-3)
    assert np.abs(first - second).max() > 0  # two genuinely different estimates


def test_live_preview_follows_the_asked_plane_and_is_that_plane_of_the_network():
    lr = simulate_lr(_hr((24, 20, 32)), (1, 1, 4), method="thick_slice")  # slices along axis 2
    asked = iter([(1, 5), None, (0, 30)] + [(1, 7)] * 100)  # the plane the viewer shows, per preview
    spec = Budget(features=8, num_blocks=2, patch=16, batch=8, steps=40, lr=2e-3)
    events = list(iter_selfsr(lr, budget=spec, device="cpu", preview_plane=lambda: next(asked)))
    previews = [e.preview for e in events if e.preview is not None]
    # asked every 40 / PREVIEWS steps but not at the last (the result follows); once no plane
    assert len(previews) == PREVIEWS - 2 and all(e.preview is None for e in events[spec.steps :])
    assert [p.shape for p in previews[:2]] == [(24, 1, 32), (1, 20, 32)]  # index 30 is clipped to 23
    # Each preview sits where that plane of the result is, in mm, and is the network's SR of
    # that plane: here, with the trained network, one orientation of the result exactly.
    result = run_to_end(iter_selfsr(lr, budget=TINY, device="cpu"))
    grid, model = result.grid, result.model
    low, high = intensity_range(lr.data)
    x = torch.from_numpy(((lr.data - low) / (high - low)).astype(np.float32))[None, None]
    with torch.inference_mode(), autocast(torch.device("cpu")):  # the preview's precision
        along_q, along_p = (o[0, 0].float().numpy() * (high - low) + low for o in model.orientations(x))
    for axis, index, expected in ((1, 7, along_q), (0, 3, along_p)):
        plane = PlanePreview(lr, grid, "cpu")(model, axis, index)
        shift = np.eye(4)
        shift[axis, 3] = index
        np.testing.assert_allclose(plane.affine, result.sr.affine @ shift, atol=1e-9)
        np.testing.assert_allclose(plane.data, np.take(expected, [index], axis=axis), atol=1e-3)


def test_disagreement_map_needs_both_doubt_and_detail_along_the_slices():
    t = np.arange(8, dtype=float)[:, None, None] * np.ones((8, 6, 6))  # slice axis first
    flat = np.ones((8, 6, 6))
    offset = np.zeros((8, 6, 6))
    offset[4, 3, 3] = 2.0
    np.testing.assert_array_equal(disagreement_map(t, t), 0)  # orientations agree
    np.testing.assert_array_equal(disagreement_map(flat, flat + offset, sigma=0)[:2], 0)  # no detail
    # a ramp of 1 per slice in both, one voxel where they differ by 2: sqrt(1 * 1) there
    raw = disagreement_map(t, t + offset, sigma=0)
    assert raw[4, 3, 3] == pytest.approx(1.0) and raw[0, 0, 0] == 0
    smooth = disagreement_map(t, t + offset)
    assert (smooth >= 0).all() and 0 < smooth[4, 3, 3] < 1.0 and smooth[4, 2, 3] > 0


def test_fractional_ratio_runs_end_to_end_on_the_in_plane_grid():
    lr = Volume(head_phantom((20, 18, 8)), oblique_affine((1.0, 1.0, 2.5)), "scan")
    result = run_to_end(iter_selfsr(lr, budget=TINY, device="cpu"))
    assert result.sr.shape == (20, 18, 20)
    np.testing.assert_allclose(result.sr.spacing, [1.0, 1.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(result.sr.affine, plan_grid(lr).out_affine(lr.affine))


def test_closing_the_generator_cancels_cleanly(tmp_path):
    lr = simulate_lr(_hr(), (1, 1, 4), method="thick_slice")
    work = iter_selfsr(lr, budget=Budget(8, 2, 16, 8, 50, 1e-3), device="cpu")
    events = [next(work) for _ in range(3)]
    work.close()
    assert [e.done for e in events] == [1, 2, 3] and events[0].total > 50
    with pytest.raises(StopIteration):
        next(work)
    # Cancelling while applying restores the model's mode.
    model = run_to_end(iter_train(lr, plan_grid(lr), TINY, device="cpu"))
    model.train()
    applying = iter_apply(lr, model, device="cpu", batch=2)
    next(applying)
    applying.close()
    assert model.net.training
    assert list(tmp_path.iterdir()) == []


def test_cli_selfsr_writes_outputs_and_the_saved_model_runs_through_predict(tmp_path, capsys):
    lr = simulate_lr(_hr(), (1, 1, 4), method="thick_slice")
    source, out, dis, weights = (
        tmp_path / n for n in ("lr.nii.gz", "sr.nii.gz", "d.nii.gz", "m.safetensors")
    )
    save_volume(lr, source)
    args = ["selfsr", str(source), str(out), "--device", "cpu", "--steps", "3", "--seed", "1"]
    assert main([*args, "--disagreement", str(dis), "--save-model", str(weights)]) == 0
    assert "wrote" in capsys.readouterr().out
    sr, disagreement = load_volume(out), load_volume(dis)
    assert sr.shape == (24, 20, 32) == disagreement.shape
    np.testing.assert_allclose(sr.affine, upsampled_affine(lr.affine, (1, 1, 4)), atol=1e-5)
    # The per-scan model is a zoo model file: reloaded, it gives the same volume ...
    model = zoo.load_model(weights)
    assert model.architecture == "selfsr2d" and model.meta["selfsr"]["ratio"] == 4.0
    again = run_to_end(iter_apply(load_volume(source), model, device="cpu"))
    # bf16 where the CPU has it: another memory layout rounds differently (this net trained 3 steps)
    tolerance = BF16_RANGE * float(np.ptp(sr.data))
    np.testing.assert_allclose(again.sr.data, sr.data, atol=tolerance)
    # ... and `mrisr predict` applies it to another scan of the same protocol.
    other = tmp_path / "other.nii.gz"
    save_volume(simulate_lr(_hr(angle=-0.1), (1, 1, 4), method="thick_slice"), other)
    predicted = tmp_path / "p.nii.gz"
    assert (
        main(["predict", str(other), str(predicted), "--model", str(weights), "--device", "cpu"])
        == 0
    )
    expected = run_to_end(iter_apply(load_volume(other), model, device="cpu")).sr
    got = load_volume(predicted)
    np.testing.assert_allclose(got.affine, expected.affine, atol=1e-5)
    np.testing.assert_allclose(got.data, expected.data, atol=BF16_RANGE * float(np.ptp(expected.data)))


def test_cli_selfsr_refuses_bad_input_with_exit_code_2(tmp_path, capsys):
    iso = tmp_path / "iso.nii.gz"
    save_volume(Volume(head_phantom(), np.eye(4), "iso"), iso)
    aniso = tmp_path / "aniso.nii.gz"
    save_volume(simulate_lr(_hr(), (1, 1, 4), method="thick_slice"), aniso)
    (tmp_path / "broken.nii.gz").write_bytes(b"nope")
    (tmp_path / "exists.nii.gz").write_bytes(b"keep")
    cases = [
        ([str(iso), str(tmp_path / "o.nii.gz")], "isotropic"),
        ([str(tmp_path / "broken.nii.gz"), str(tmp_path / "o.nii.gz")], "not a readable"),
        ([str(aniso), str(tmp_path / "exists.nii.gz")], "pass --force"),
        ([str(aniso), str(aniso)], "is the input file"),
        (
            [str(aniso), str(tmp_path / "o.nii.gz"), "--save-model", str(tmp_path / "m.pt")],
            "end in",
        ),
        ([str(aniso), str(tmp_path / "o.nii.gz"), "--device", "tpu"], "Unknown device"),
        (
            [str(aniso), str(tmp_path / "o.nii.gz"), "--disagreement", str(tmp_path / "." / "o.nii.gz")],
            "--disagreement names the output file",
        ),
        ([str(aniso), str(tmp_path / "o.nii.gz"), "--seed", "-1"], "--seed must be 0 or more"),
    ]
    for args, message in cases:
        assert main(["selfsr", *args, "--steps", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0 and err.startswith("mrisr: error:"), err
    assert not (tmp_path / "o.nii.gz").exists()
    assert (tmp_path / "exists.nii.gz").read_bytes() == b"keep"


def test_selfsr2d_is_a_per_scan_architecture_not_a_trainable_one():
    from napari_mrisr.models import list_architectures

    assert "selfsr2d" not in list_architectures()
    model = build_model("selfsr2d", (4, 1, 1), features=4, num_blocks=1)
    assert model(torch.zeros(1, 1, 3, 5, 6)).shape == (1, 1, 12, 5, 6)
    with pytest.raises(ValueError, match="exactly one axis"):
        build_model("selfsr2d", (2, 2, 1))
    sr = super_resolve(
        Volume(head_phantom((6, 8, 5)), np.diag([4.0, 1, 1, 1])), model.eval(), device="cpu"
    )
    assert sr.shape == (24, 8, 5)
