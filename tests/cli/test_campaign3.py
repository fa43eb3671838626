"""The third fault campaign's command-line failures: the right words, work kept at the last
step, limits kept, no leftovers after a signal, and two runs into one folder never collide."""

from __future__ import annotations

import os
import signal

import nibabel as nib
import numpy as np
import pytest

from napari_mrisr import zoo
from napari_mrisr.atomic import claim
from napari_mrisr.cli import main
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.io import load_volume, save_volume

from ..phantoms import head_phantom, oblique_affine


@pytest.fixture
def model_file(tmp_path, model):
    return str(zoo.save_model(model, tmp_path / "m.safetensors"))


def scan(path, shape=(8, 10, 10), spacing=(2.0, 1.0, 1.0)):
    save_volume(Volume(head_phantom(shape), oblique_affine(spacing)), path)
    return path


def test_a_folder_named_like_a_volume_is_called_a_folder(tmp_path, model_file, capsys):
    (tmp_path / "x.nii.gz").mkdir()
    assert main(["predict", str(tmp_path / "x.nii.gz"), str(tmp_path / "o.nii.gz"), "--model", model_file]) == 2
    assert "x.nii.gz' is a folder, not a NIfTI/MGZ file" in capsys.readouterr().err


def test_one_file_named_twice_is_taken_once(tmp_path, model_file, capsys):
    (tmp_path / "in").mkdir()
    one = scan(tmp_path / "in" / "a.nii.gz")
    code = main(["predict", str(tmp_path / "in"), str(one), str(tmp_path / "sr"), "--model", model_file, "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "1 done, 0 skipped, 0 failed" in out


def test_a_folder_in_the_way_of_a_cohort_output_is_a_failure_that_says_so(tmp_path, model_file, capsys):
    (tmp_path / "in").mkdir()
    scan(tmp_path / "in" / "a.nii.gz")
    (tmp_path / "sr" / "a_sr.nii.gz").mkdir(parents=True)
    code = main(["predict", str(tmp_path / "in"), str(tmp_path / "sr"), "--model", model_file, "--device", "cpu"])
    assert code == 1 and "a folder of the output's name is in the way" in capsys.readouterr().out


def test_a_second_run_skips_the_output_another_run_holds(tmp_path, model_file, capsys):
    (tmp_path / "in").mkdir()
    scan(tmp_path / "in" / "a.nii.gz")
    scan(tmp_path / "in" / "b.nii.gz")
    with claim(tmp_path / "sr" / "a_sr.nii.gz") as held:  # the other run, writing a's output
        assert held
        code = main(["predict", str(tmp_path / "in"), str(tmp_path / "sr"), "--model", model_file, "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "skipped" in out and "another run is writing it" in out and "1 done" in out
    assert not (tmp_path / "sr" / "a_sr.nii.gz").exists()  # left to the run that holds it
    assert not list((tmp_path / "sr").glob(".*.lock"))  # this run's own claims are released


def test_leftovers_of_killed_runs_are_swept_on_the_next_run(tmp_path, model_file, capsys):
    (tmp_path / "in").mkdir()
    scan(tmp_path / "in" / "a.nii.gz")
    out = tmp_path / "sr"
    out.mkdir()
    dead = 2**22 + 12345  # no such process
    (out / f".a_sr.nii.gz.tmp-{dead}-x.nii.gz").write_bytes(b"half a file")
    (out / ".b_sr.nii.gz.lock").write_text(str(dead))
    assert main(["predict", str(tmp_path / "in"), str(out), "--model", model_file, "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_sr.nii.gz"]


def test_sigterm_while_writing_leaves_no_temporary_and_no_output(tmp_path, model_file, capsys, monkeypatch):
    source = scan(tmp_path / "in.nii.gz")
    out = tmp_path / "out.nii.gz"
    real = nib.save

    def terminated_while_writing(img, filename):
        real(img, filename)  # the temporary file is whole...
        os.kill(os.getpid(), signal.SIGTERM)  # ...when the signal comes

    monkeypatch.setattr(nib, "save", terminated_while_writing)
    code = main(["predict", str(source), str(out), "--model", model_file, "--device", "cpu"])
    assert code == 143 and "interrupted; nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nii.gz", "m.safetensors"]
    assert signal.getsignal(signal.SIGTERM) is not None  # main put the previous handler back


def test_selfsr_checks_room_for_its_model_file_before_training(tmp_path, capsys, monkeypatch):
    import shutil

    import napari_mrisr.progress as progress

    source = tmp_path / "thick.nii.gz"
    save_volume(Volume(head_phantom((16, 16, 6)), np.diag([1.0, 1.0, 3.0, 1.0])), source)
    volumes = 2 * 16 * 16 * 18 * 4  # the SR volume and its disagreement map, float32
    free = volumes + 1000  # room for the volumes, not for the network's weights
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9 - free, free))
    monkeypatch.setattr(progress, "run_to_end", lambda *a, **k: pytest.fail("training started"))
    argv = ["selfsr", str(source), str(tmp_path / "sr.nii.gz"), "--disagreement", str(tmp_path / "d.nii.gz"),
            "--save-model", str(tmp_path / "scan.safetensors"), "--steps", "1"]  # fmt: skip
    assert main(argv) == 2
    assert "free but the output needs about" in capsys.readouterr().err


def test_selfsr_refuses_an_output_grid_the_machine_cannot_hold_before_training(tmp_path, capsys):
    source = tmp_path / "thick.nii.gz"
    save_volume(Volume(head_phantom((16, 16, 6)), np.diag([1.0, 1.0, 3.0, 1.0])), source)
    assert main(["selfsr", str(source), str(tmp_path / "sr.nii.gz"), "--spacing", "3e-6"]) == 2
    err = capsys.readouterr().err
    assert "more than the" in err and "choose a coarser output spacing" in err


def test_a_full_disk_while_saving_a_model_is_one_sentence(tmp_path, model, monkeypatch):
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr("napari_mrisr.zoo.model_file.save_file", full)
    with pytest.raises(OSError, match="Could not write .*m.safetensors.*No space left on device"):
        zoo.save_model(model, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_the_decoded_source_counts_against_the_memory_cap(tmp_path):
    path = tmp_path / "f64.nii.gz"
    data = np.zeros((48, 48, 48), np.float64)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    float32_only = data.size * 4
    with pytest.raises(VolumeError, match="to read"):
        load_volume(path, max_bytes=float32_only + 1)  # enough for the result alone, not the reading


def test_a_micrometre_spacing_is_called_too_small_not_zero(tmp_path):
    path = tmp_path / "tiny.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.diag([1e-6, 1e-6, 1e-6, 1])), path)
    with pytest.raises(VolumeError, match="voxel spacing of 1e-06 mm, below the 0.001 mm of any MRI"):
        load_volume(path)
