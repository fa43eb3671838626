"""A model fits the scan: its expected geometry, orientation to the scan's thick axis, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mrisr import zoo
from napari_mrisr.cli import main
from napari_mrisr.models import build_model
from napari_mrisr.predict.method import iter_fitted
from napari_mrisr.progress import run_to_end
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.degrade import simulate_lr
from napari_mrisr.volume.geometry import crop_to_multiple, upsampled_affine
from napari_mrisr.volume.io import load_volume, save_volume
from napari_mrisr.zoo.model_fit import (
    ModelFitError,
    ModelGeometry,
    check_fit,
    fit_model,
    training_hr_spacing,
)

from ..phantoms import X2, X4, head_phantom, oblique_affine, tiny


def scan(spacing, name="scan", affine=None) -> Volume:
    return Volume(np.zeros((4, 4, 4)), np.diag([*spacing, 1.0]) if affine is None else affine, name)


def test_bundled_models_derive_the_geometry_they_were_trained_at():
    models = {info.name: info.meta for info in zoo.list_models() if info.bundled}
    assert ModelGeometry.from_meta(models["mni-x4-thick"]) == ModelGeometry(
        (1, 1, 4), (1.0, 1.0, 4.0), 2
    )
    assert ModelGeometry.from_meta(models["mni-x2-iso"]) == ModelGeometry(
        (2, 2, 2), (2.0, 2.0, 2.0), None
    )
    assert ModelGeometry.from_meta(models["mni-x4-thick-gan"]).describe() == (
        "x4 through-plane, trained at 1 x 1 x 4 mm"
    )
    # a file with no geometry nor training record: proportions from its scale only
    assert (
        ModelGeometry.from_meta({"scale": [1, 2, 2]}).describe()
        == "x1 x2 x2, training spacing not recorded"
    )


@pytest.mark.parametrize("thick", [0, 1, 2])
@pytest.mark.parametrize("kind", ["flipped", "oblique"])
def test_the_model_refines_the_scans_thick_axis_and_lands_on_the_hr_grid(thick, kind):
    flips = np.diag([-1.0, 1.0, -1.0, 1.0])
    affine = (
        oblique_affine((1, 1, 1), angle=0.0) @ flips
        if kind == "flipped"
        else oblique_affine((1, 1, 1), 0.4)
    )
    hr = Volume(head_phantom((16, 18, 20)), affine, "hr")
    factors = tuple(4 if a == thick else 1 for a in range(3))
    lr = simulate_lr(hr, factors, method="thick_slice")
    fit = check_fit(lr, X4)
    assert (
        fit.factors == factors and fit.order[2] == thick
    )  # the model's axis 2 reads the thick axis

    sr = run_to_end(iter_fitted(lr, tiny((1, 1, 4), X4), fit, device="cpu", tile=8))
    assert sr.shape == crop_to_multiple(hr.data, factors).shape
    np.testing.assert_allclose(sr.affine, hr.affine, atol=1e-6)  # exactly the HR grid
    # voxel centres in mm: the SR voxels of LR voxel (1, 2, 3) sit on the HR voxels it covers,
    # centred on the LR voxel's centre
    lr_index = np.array([1, 2, 3])
    sub = [lr_index * factors + np.eye(3, dtype=int)[thick] * q for q in range(4)]
    centres = np.array([(sr.affine @ [*i, 1])[:3] for i in sub])
    np.testing.assert_allclose(centres, [(hr.affine @ [*i, 1])[:3] for i in sub], atol=1e-6)
    np.testing.assert_allclose(centres.mean(axis=0), (lr.affine @ [*lr_index, 1])[:3], atol=1e-6)
    # the data were refined along the thick axis: linear interpolation (the zero-residual model's
    # input skip) along it, on the grid rule, and nothing else
    n = lr.shape[thick]
    positions = (np.arange(4 * n) + 0.5) / 4 - 0.5
    expected = np.apply_along_axis(
        lambda line: np.interp(positions, np.arange(n), line), thick, lr.data
    )
    np.testing.assert_allclose(sr.data, expected, atol=1e-4 * float(np.ptp(lr.data)))


@pytest.mark.parametrize(
    ("meta", "spacing", "factors", "refusal"),
    [
        (X4, (1, 1, 4), (1, 1, 4), None),
        (X4, (4, 1, 1), (4, 1, 1), None),  # a sagittal thick-slice scan
        (X4, (0.9, 0.9, 5.5), (1, 1, 4), None),  # 5.5 mm slices for a 4 mm model: 1.53x
        (X4, (1, 1, 3), (1, 1, 4), None),
        (
            X4,
            (2, 2, 2),
            None,
            "its voxel proportions 1 : 1 : 1 are 2x or more away from the 1 : 1 : 4",
        ),
        (X4, (1, 1, 2), None, "1 : 1 : 2 are 2x or more away"),
        (X4, (1, 1, 8), None, "1 : 1 : 8 are 2x or more away"),
        (X2, (2, 2, 2), (2, 2, 2), None),
        (X2, (3, 3, 3), (2, 2, 2), None),
        (
            X2,
            (1, 1, 1),
            None,
            "already at or finer than the 1 mm the model produces along file axis 0 (L-R)",
        ),
        (X2, (1, 1, 5), None, "1 : 1 : 5 are 2x or more away from the 1 : 1 : 1"),
        ({"scale": [2, 2, 2]}, (1, 1, 1), (2, 2, 2), None),  # training spacing unknown
        ({"scale": [1, 1, 4]}, (1, 1, 1), None, "away from the 1 : 1 : 4"),
    ],
)
def test_refusal_rules(meta, spacing, factors, refusal):
    fit = fit_model(scan(spacing, "epi"), meta, "m")
    if refusal is None:
        assert fit.ok and fit.factors == factors
        return
    assert (
        refusal in fit.reason
        and fit.reason.startswith("'m' (")
        and "does not fit 'epi'" in fit.reason
    )
    assert fit.reason.count("\n") == 0 and fit.reason.endswith(".")
    with pytest.raises(ModelFitError, match="does not fit"):
        check_fit(scan(spacing, "epi"), meta, "m")


def test_a_self_supervised_model_expects_its_scans_geometry():
    grid = {"axis": 0, "lr_spacing": 5.0, "in_plane_spacing": 0.9}
    meta = {"scale": [6, 1, 1], "selfsr": grid}
    assert ModelGeometry.from_meta(meta) == ModelGeometry((6, 1, 1), (5.0, 0.9, 0.9), 0)
    assert fit_model(scan((0.9, 0.9, 5.0)), meta).factors == (1, 1, 6)


def test_training_records_the_spacing_it_was_trained_at(tmp_path, data_dir):
    np.testing.assert_allclose(training_hr_spacing([str(data_dir)]), (0.9, 1.1, 1.3))
    assert training_hr_spacing([]) == (1.0, 1.0, 1.0)  # the built-in MNI152 sample
    assert training_hr_spacing([str(tmp_path / "gone")]) is None  # exported elsewhere
    geometry = ModelGeometry.for_training((1, 1, 4), (0.9, 1.1, 1.3))
    net = build_model("edsr3d", (1, 1, 4), features=4, num_blocks=1)
    path = zoo.save_model(net, tmp_path / "m.safetensors", {"input_geometry": geometry.to_meta()})
    assert ModelGeometry.from_meta(zoo.read_metadata(path)) == geometry
    assert geometry == ModelGeometry((1, 1, 4), (0.9, 1.1, 5.2), 2)
    bad = {"input_geometry": {"spacing_mm": [1, 0, 1], "through_plane_axis": None}}
    with pytest.raises(zoo.ModelError, match=r"input_geometry.spacing_mm.1: Input should be greater than 0"):
        zoo.read_metadata(zoo.save_model(net, tmp_path / "bad.safetensors", bad))


# -- mrisr predict and cohorts -------------------------------------------------------------------
@pytest.fixture
def x4_file(tmp_path):
    return str(zoo.save_model(tiny((1, 1, 4), X4), tmp_path / "x4.safetensors", X4))


def test_predict_orients_the_model_and_refuses_a_scan_it_does_not_fit(tmp_path, x4_file, capsys):
    sagittal = Volume(head_phantom((5, 16, 14)), oblique_affine((4, 1, 1)), "sagittal")
    save_volume(sagittal, tmp_path / "sagittal.nii.gz")
    out = tmp_path / "sr.nii.gz"
    assert (
        main(
            [
                "predict",
                str(tmp_path / "sagittal.nii.gz"),
                str(out),
                "--model",
                x4_file,
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    sr = load_volume(out)
    assert sr.shape == (20, 16, 14)
    np.testing.assert_allclose(sr.affine, upsampled_affine(sagittal.affine, (4, 1, 1)), atol=1e-5)

    save_volume(
        Volume(head_phantom((8, 8, 8)), oblique_affine((2, 2, 2)), "epi"), tmp_path / "epi.nii.gz"
    )
    capsys.readouterr()
    code = main(
        ["predict", str(tmp_path / "epi.nii.gz"), str(tmp_path / "o.nii.gz"), "--model", x4_file]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.count("\n") == 1
        and err.startswith("mrisr: error: 'x4' (x4 through-plane")
    )
    assert "does not fit 'epi' (2 x 2 x 2 mm, isotropic)" in err
    assert not (tmp_path / "o.nii.gz").exists()


def test_a_cohort_reports_a_scan_the_model_does_not_fit_and_does_the_rest(
    tmp_path, x4_file, capsys
):
    scans = tmp_path / "scans"
    save_volume(Volume(head_phantom((6, 6, 4)), oblique_affine((1, 1, 4))), scans / "axial.nii.gz")
    save_volume(Volume(head_phantom((6, 6, 6)), oblique_affine((2, 2, 2))), scans / "epi.nii.gz")
    assert (
        main(["predict", str(scans), str(tmp_path / "sr"), "--model", x4_file, "--device", "cpu"])
        == 1
    )
    printed = capsys.readouterr().out
    assert "1 done, 0 skipped, 1 failed" in printed and "does not fit" in printed
    assert load_volume(tmp_path / "sr" / "axial_sr.nii.gz").shape == (6, 6, 16)


@pytest.mark.parametrize(
    ("meta", "spacing", "warned"),
    [
        (X2, (4, 4, 5), True),  # dipy's aniso_vox for a model trained at 2 mm
        (X2, (2, 2, 2), False),
        (X2, (2.5, 2.5, 2.5), False),  # within COARSER
        (X4, (1, 1, 5), False),  # 5 mm slices for 4 mm ones: accepted, no warning
        (X4, (1.2, 1.2, 4), False),
        (X4, (2, 2, 6), True),
    ],
)
def test_a_scan_coarser_than_the_training_input_fits_with_a_warning(meta, spacing, warned):
    fit = fit_model(scan(spacing, "aniso"), meta, "m")
    assert fit.ok and bool(fit.warning) == warned
    if warned:
        assert fit.warning == (
            f"'aniso' ({' x '.join(map(str, spacing))} mm) is coarser than the "
            f"{' x '.join(f'{s:g}' for s in meta['input_geometry']['spacing_mm'])} mm scans 'm' "
            "was trained on, so its result is less reliable."
        )


def test_predict_warns_in_one_line_on_a_scan_coarser_than_the_training_input(tmp_path, capsys):
    model = zoo.save_model(tiny(2, X2), tmp_path / "x2.safetensors", X2)
    source = tmp_path / "aniso.nii.gz"
    save_volume(Volume(head_phantom((8, 8, 6)), np.diag([4.0, 4.0, 5.0, 1.0]), "aniso"), source)
    out = str(tmp_path / "sr.nii.gz")
    args = ["predict", str(source), out, "--model", str(model), "--device", "cpu"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (
        "mrisr: warning: 'aniso' (4 x 4 x 5 mm) is coarser than the 2 x 2 x 2 mm scans 'x2' was "
        "trained on, so its result is less reliable.\n" in err
    )
    (tmp_path / "sr.nii.gz").unlink()
    save_volume(Volume(head_phantom((8, 8, 6)), np.diag([2.0, 2.0, 2.0, 1.0]), "iso"), source)
    assert main(args) == 0 and "warning" not in capsys.readouterr().err
