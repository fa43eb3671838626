"""The fault campaign's failures, one test each: nothing lost, nothing executed, one sentence."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_mrisr import zoo
from napari_mrisr.cli import main
from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.models import build_model
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import save_volume

from ..phantoms import head_phantom, oblique_affine


def hostile_copy(model, path, **meta_changes):
    """A model file with the same tensors and edited metadata (``config.x`` edits the config)."""
    good = zoo.save_model(model, path.with_name("good-" + path.name))
    meta = zoo.read_metadata(good)
    for key, value in meta_changes.items():
        if key.startswith("config_"):
            meta["config"][key.removeprefix("config_")] = value
        else:
            meta[key] = value
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata={"napari_mrisr": json.dumps(meta)})
    good.unlink()
    return path


# -- model files: wrong types, absurd sizes, broken weights ------------------------------------
@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"format_version": "1"}, "format_version: Input should be a whole number, got '1'"),
        ({"normalization": {"kind": "percentile", "low": "a", "high": 99.5}}, "normalization.low: Input should be a number"),
        ({"normalization": [0.5, 99.5]}, "normalization: Input should be a valid dictionary"),
        ({"normalization": {"low": 99.5, "high": 0.5}}, "normalization: low must be below high"),
        ({"scale": [1000, 1000, 1000]}, r"scale.0: Input should be less than or equal to 16"),
        ({"config_features": 10**6}, "Option features=1000000 of architecture 'edsr3d' is beyond 4096"),
        ({"config_features": 2**62}, "is beyond 4096"),
        ({"config_num_blocks": 64}, "far larger network"),
        ({"config_res_scale": float("nan")}, "Option res_scale of architecture 'edsr3d' is NaN or infinite"),
    ],
)
def test_lying_model_metadata_is_refused_in_one_sentence_before_building(tmp_path, model, changes, sentence):
    path = hostile_copy(model, tmp_path / "m.safetensors", **changes)
    with pytest.raises(zoo.ModelError, match=sentence):
        zoo.load_model(path)


def test_metadata_that_is_not_an_object_is_refused(tmp_path, model):
    path = tmp_path / "list.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path, metadata={"napari_mrisr": "[1, 2]"})
    with pytest.raises(zoo.ModelError, match="not a JSON object"):
        zoo.read_metadata(path)


def test_one_malformed_user_model_is_skipped_with_a_warning_and_hides_nothing(user_dir, tmp_path, model):
    user_dir.mkdir()
    hostile_copy(model, user_dir / "bad.safetensors", format_version="one")
    zoo.save_model(model, user_dir / "fine.safetensors")
    zoo.save_model(model, user_dir / "mni-x2-iso.safetensors")  # named like a bundled model
    with pytest.warns(UserWarning) as caught:
        names = [info.name for info in zoo.list_models()]
    messages = [str(w.message) for w in caught]
    assert any("bad.safetensors" in m and "format_version" in m for m in messages)
    assert any("mni-x2-iso.safetensors" in m and "bundled model" in m for m in messages)
    assert "fine" in names and "bad" not in names and "mni-x2-iso" in names
    assert zoo.load_model("mni-x2-iso").meta["name"] == "mni-x2-iso"  # the bundled one


def test_nan_weights_are_refused_and_a_non_finite_result_is_an_error(tmp_path, model, volume):
    broken = build_model("edsr3d", (1, 2, 2), features=8, num_blocks=1)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    with pytest.raises(zoo.ModelError, match="NaN or infinite weights"):
        zoo.load_model(zoo.save_model(broken, tmp_path / "nan.safetensors"))
    with pytest.raises(ValueError, match="NaN or infinite values"):
        super_resolve(volume, broken, device="cpu")


def test_predict_refuses_broken_models_with_exit_2(tmp_path, model, capsys):
    save_volume(Volume(head_phantom((8, 10, 10)), oblique_affine()), tmp_path / "in.nii.gz")
    bad = hostile_copy(model, tmp_path / "m.safetensors", normalization={"kind": "percentile", "low": "a"})
    code = main(["predict", str(tmp_path / "in.nii.gz"), str(tmp_path / "out.nii.gz"), "--model", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "normalization.low: Input should be a number" in err and "Traceback" not in err
    assert not (tmp_path / "out.nii.gz").exists()


# -- mrisr predict: never replace a file without --force, check the output before the work ------
@pytest.fixture
def scan(tmp_path, model):
    save_volume(Volume(head_phantom((8, 10, 10)), oblique_affine()), tmp_path / "in.nii.gz")
    return tmp_path / "in.nii.gz", str(zoo.save_model(model, tmp_path / "m.safetensors"))


def run_predict(scan, out, *extra):
    return main(["predict", str(scan[0]), str(out), "--model", scan[1], "--device", "cpu", *extra])


def test_a_file_written_during_inference_is_never_replaced(tmp_path, scan, monkeypatch, capsys):
    import napari_mrisr.progress as progress

    out = tmp_path / "out.nii.gz"
    real = progress.run_to_end

    def someone_writes_meanwhile(*args, **kwargs):
        out.write_bytes(b"the user's file")
        return real(*args, **kwargs)

    monkeypatch.setattr(progress, "run_to_end", someone_writes_meanwhile)
    assert run_predict(scan, out) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"the user's file"
    assert not list(tmp_path.glob(".out.nii.gz.tmp-*"))


@pytest.mark.parametrize("problem", ["directory", "disk full", "device"])
def test_output_problems_are_found_before_any_work(tmp_path, scan, monkeypatch, capsys, problem):
    import shutil

    import napari_mrisr.progress as progress

    out = tmp_path / "out.nii.gz"
    extra = []
    if problem == "directory":
        out.mkdir()
    elif problem == "disk full":
        monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    else:
        extra = ["--device", "xpu"]
    monkeypatch.setattr(progress, "run_to_end", lambda *a, **k: pytest.fail("inference ran"))
    assert run_predict(scan, out, *extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert {"directory": "is a folder", "disk full": "1000 bytes free", "device": "Unknown device 'xpu'"}[problem] in err


def test_outputs_respect_the_umask_and_force_keeps_the_mode(tmp_path, scan):
    old = os.umask(0o022)
    try:
        out = tmp_path / "out.nii.gz"
        assert run_predict(scan, out) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        assert run_predict(scan, out, "--force") == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_temporaries_of_a_killed_writer_are_cleaned_up_on_the_next_write(tmp_path, scan):
    out = tmp_path / "out.nii.gz"
    stale = tmp_path / ".out.nii.gz.tmp-999999999-abcd.nii.gz"  # no such process
    stale.write_bytes(b"half a file")
    assert run_predict(scan, out) == 0
    assert not stale.exists() and out.exists()


def test_ctrl_c_ends_with_one_line_and_no_output(tmp_path, scan, monkeypatch, capsys):
    import napari_mrisr.progress as progress

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(progress, "run_to_end", interrupted)
    assert run_predict(scan, tmp_path / "out.nii.gz") == 130
    err = capsys.readouterr().err
    assert err.endswith("\nmrisr: interrupted; nothing was written.\n") and "Traceback" not in err
    assert not (tmp_path / "out.nii.gz").exists()


# -- volumes whose header lies about their size ---------------------------------------------------
def test_a_header_declaring_more_voxels_than_the_file_holds_is_refused_before_reading(tmp_path):
    import gzip
    import tracemalloc

    import nibabel as nib

    from napari_mrisr.volume.base import VolumeError
    from napari_mrisr.volume.io import load_volume

    header = nib.Nifti1Header()
    header.set_data_shape((1000, 1000, 1000))
    header.set_data_dtype(np.float32)
    path = tmp_path / "liar.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 50_004))  # 55 KB of data
    tracemalloc.start()
    with pytest.raises(VolumeError, match="truncated or corrupt: its header declares 1000 x 1000 x 1000"):
        load_volume(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20  # not the 3.8 GiB the header asks for


def test_nifti2_dimensions_near_2_to_the_32_do_not_overflow_the_memory_check(tmp_path):
    import nibabel as nib

    from napari_mrisr.volume.base import VolumeError
    from napari_mrisr.volume.io import load_volume

    header = nib.Nifti2Header()
    header.set_data_shape((2**32 - 1,) * 3)
    header.set_data_dtype(np.float32)
    path = tmp_path / "n2.nii"
    path.write_bytes(header.binaryblock + b"\0" * 104)
    with pytest.raises(VolumeError, match="EiB to read"):
        load_volume(path)


# -- cohorts ---------------------------------------------------------------------------------------
def test_a_cohort_with_a_corrupt_file_finishes_the_rest_and_resumes(tmp_path, model, capsys):
    scans = tmp_path / "scans"
    for i in range(3):
        save_volume(Volume(head_phantom((8, 10, 10), seed=i), oblique_affine()), scans / f"sub{i}.nii.gz")
    (scans / "sub1.nii.gz").write_bytes(b"not a volume")
    path = str(zoo.save_model(model, tmp_path / "m.safetensors"))
    out = tmp_path / "sr"
    argv = ["predict", str(scans), str(out), "--model", path, "--device", "cpu"]
    assert main(argv) == 1  # one file failed
    printed = capsys.readouterr().out
    assert "failed" in printed and "sub1.nii.gz" in printed and "not a readable NIfTI" in printed
    assert "2 done, 0 skipped, 1 failed" in printed
    assert sorted(p.name for p in out.iterdir()) == ["sub0_sr.nii.gz", "sub2_sr.nii.gz"]
    done = (out / "sub0_sr.nii.gz").stat().st_mtime_ns

    save_volume(Volume(head_phantom((8, 10, 10)), oblique_affine()), scans / "sub1.nii.gz")  # fixed
    assert main(argv) == 0  # resumed: the done files are skipped, the fixed one is made
    assert "1 done, 2 skipped, 0 failed" in capsys.readouterr().out
    assert (out / "sub0_sr.nii.gz").stat().st_mtime_ns == done
    assert (out / "sub1_sr.nii.gz").exists()


def test_a_cohort_refuses_two_inputs_that_would_write_one_output(tmp_path, model, capsys):
    for folder in ("a", "b"):
        save_volume(Volume(head_phantom((8, 10, 10)), oblique_affine()), tmp_path / folder / "T1.nii.gz")
    path = str(zoo.save_model(model, tmp_path / "m.safetensors"))
    out = tmp_path / "sr"
    assert main(["predict", str(tmp_path / "a"), str(tmp_path / "b"), str(out), "--model", path]) == 2
    err = capsys.readouterr().err.strip()
    assert "would both be written to" in err and err.count("\n") == 0
    assert not out.exists()


def test_a_cohort_run_again_into_its_input_folder_skips_its_own_outputs(tmp_path, model, capsys):
    scans = tmp_path / "scans"
    for i in range(2):
        save_volume(Volume(head_phantom((8, 10, 10), seed=i), oblique_affine()), scans / f"sub{i}.nii.gz")
    argv = ["predict", str(scans), str(scans), "--model", str(zoo.save_model(model, tmp_path / "m.safetensors"))]
    assert main(argv) == 0
    assert main(argv) == 0  # sub0_sr.nii.gz is sub0's output, not a new input
    assert "0 done, 2 skipped, 0 failed" in capsys.readouterr().out
    assert not list(scans.glob("*_sr_sr*"))


@pytest.mark.parametrize("pattern", ["sub?.nii.gz", "sub[01].nii.gz", "*.nii.gz"])
def test_every_glob_form_names_a_cohort(tmp_path, model, capsys, pattern):
    for i in range(2):
        save_volume(Volume(head_phantom((8, 10, 10), seed=i), oblique_affine()), tmp_path / f"sub{i}.nii.gz")
    path = str(zoo.save_model(model, tmp_path / "m.safetensors"))
    assert main(["predict", str(tmp_path / pattern), str(tmp_path / "sr"), "--model", path]) == 0
    assert "2 done" in capsys.readouterr().out


def test_a_cohort_output_must_be_a_folder(tmp_path, model, capsys):
    save_volume(Volume(head_phantom((8, 10, 10)), oblique_affine()), tmp_path / "scans" / "a.nii.gz")
    path = str(zoo.save_model(model, tmp_path / "m.safetensors"))
    (tmp_path / "afile").write_bytes(b"keep")
    for out, message in [("afile", "is a file"), ("result.nii.gz", "is named like a volume")]:
        assert main(["predict", str(tmp_path / "scans"), str(tmp_path / out), "--model", path]) == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "afile").read_bytes() == b"keep" and not (tmp_path / "result.nii.gz").exists()


def test_an_interrupted_cohort_says_the_finished_files_are_kept(tmp_path, model, capsys, monkeypatch):
    from napari_mrisr.predict import cohort

    scans = tmp_path / "scans"
    for i in range(2):
        save_volume(Volume(head_phantom((8, 10, 10), seed=i), oblique_affine()), scans / f"sub{i}.nii.gz")
    real = cohort.save_volume
    calls = []

    def interrupted_on_the_second(volume, path, replace=True):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(volume, path, replace=replace)

    monkeypatch.setattr(cohort, "save_volume", interrupted_on_the_second)
    path = str(zoo.save_model(model, tmp_path / "m.safetensors"))
    assert main(["predict", str(scans), str(tmp_path / "sr"), "--model", path]) == 130
    err = capsys.readouterr().err
    assert "the files finished before are kept" in err and "nothing was written" not in err
    assert [p.name for p in (tmp_path / "sr").iterdir()] == ["sub0_sr.nii.gz"]


def test_a_disk_that_fills_up_while_writing_names_the_file(tmp_path, monkeypatch):
    import errno

    import nibabel as nib

    def full(img, filename):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nib, "save", full)
    with pytest.raises(OSError, match=r"^Could not write '.*out.nii.gz': No space left on device\.$"):
        save_volume(Volume(head_phantom((8, 10, 10)), oblique_affine()), tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []  # no temporary file left


@pytest.mark.subprocess
def test_files_are_spread_over_devices_one_process_each(tmp_path, model):
    from napari_mrisr.predict.cohort import run_on_devices

    scans = [tmp_path / f"s{i}.nii.gz" for i in range(3)]
    for i, p in enumerate(scans):
        save_volume(Volume(head_phantom((8, 10, 10), seed=i), oblique_affine()), p)
    path = zoo.save_model(model, tmp_path / "m.safetensors")
    seen = []
    outcomes = run_on_devices(scans, tmp_path / "sr", path, ["cpu", "cpu"], on_outcome=seen.append)
    assert [o.status for o in outcomes] == ["done"] * 3 and len(seen) == 3
    assert [o.input for o in outcomes] == scans  # in input order, whatever order they ended in


def test_a_4d_series_warning_is_one_clean_line_in_the_cli(tmp_path, model, capsys):
    import nibabel as nib

    series = nib.Nifti1Image(np.stack([head_phantom((8, 10, 10))] * 2, axis=-1), oblique_affine())
    nib.save(series, tmp_path / "series.nii.gz")
    path = str(zoo.save_model(model, tmp_path / "m.safetensors"))
    argv = ["predict", str(tmp_path / "series.nii.gz"), str(tmp_path / "o.nii.gz"), "--model", path, "--device", "cpu"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "mrisr: warning: 'series.nii.gz' is a 4D series of 2 volumes; using the first.\n" in err
    assert "UserWarning" not in err and "io.py" not in err


@pytest.mark.subprocess
def test_mrisr_models_into_a_reader_that_leaves_early_is_quiet():
    # `mrisr models | head -1`: the pipe closes before the listing is written.
    child = subprocess.Popen([sys.executable, "-m", "napari_mrisr.cli", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait() == 0 and err == ""


def test_mrisr_models_lists_bundled_then_user_models(user_dir, model, capsys):
    zoo.save_model(model, user_dir / "knee-x2.safetensors")
    assert main(["models"]) == 0
    lines = [line[2:] for line in capsys.readouterr().out.splitlines()]  # after the default mark
    assert lines[0].split()[:2] == ["mni-x2-iso", "bundled"]  # by name: compact, -full, -full-gan
    full_x2 = next(line for line in lines if line.split()[0] == "mni-x2-iso-full")
    assert "val PSNR 35.33 dB" in full_x2 and "noise" not in full_x2
    compact_x4 = next(line for line in lines if line.split()[0] == "mni-x4-thick")
    assert "val PSNR 31.83 dB (1% noise)" in compact_x4  # validated on noisier LR than the others
    models = [line for line in lines if line.split()[1] in ("bundled", "user")]
    assert models[-1].split()[:3] == ["knee-x2", "user", "x1x2x2"]
