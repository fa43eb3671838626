"""Training's share of the fault campaign: nothing executed, nothing overwritten, one sentence."""

from __future__ import annotations

import pickle

import pytest
import yaml

from napari_mrisr.training.cli import main as train_cli
from napari_mrisr.training.config import save_config
from napari_mrisr.training.engine import fit

from .helpers import tiny_config


class _Planted:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def cli(config, capsys, *extra):
    path = save_config(config, config.run_dir.parent / f"{config.name}.yaml")
    code = train_cli(["fit", str(path), "--quiet", *extra])
    return code, capsys.readouterr().err


def test_resume_never_unpickles_code_even_when_torch_is_told_to(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch < 2.6's default
    config = tiny_config(tmp_path, data_dir)
    checkpoints = config.run_dir / "checkpoints"
    checkpoints.mkdir(parents=True)
    marker = tmp_path / "code-ran"
    (checkpoints / "last.ckpt").write_bytes(pickle.dumps({"state_dict": _Planted(marker)}))
    code, err = cli(config, capsys, "--resume")
    assert code == 2 and "not a checkpoint this package wrote" in err and "Traceback" not in err
    assert not marker.exists()


def test_export_of_a_pickle_is_one_sentence_that_does_not_advise_unpickling(tmp_path, capsys):
    from napari_mrisr.training.cli import main as train_cli

    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": _Planted(marker)}))
    assert train_cli(["export", str(evil), str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrisr-train: 'evil.pt' is not a checkpoint this package wrote") and "\n" not in err
    assert "weights_only" not in err
    assert not marker.exists() and not (tmp_path / "m.safetensors").exists()


def test_an_existing_run_folder_is_never_overwritten(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir)
    config.run_dir.mkdir(parents=True)
    exported = config.run_dir / f"{config.name}.safetensors"
    exported.write_bytes(b"the user's model")
    code, err = cli(config, capsys)
    assert code == 2 and "already holds a run" in err
    assert exported.read_bytes() == b"the user's model"


def test_a_refused_resume_changes_nothing(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir)
    fit(config, progress_bar=False)
    saved = (config.run_dir / "config.yaml").read_text()
    wider = tiny_config(tmp_path, data_dir, generator={"options": {"features": 8, "num_blocks": 1}})
    code, err = cli(wider, capsys, "--resume")
    assert code == 2 and "generator differs from its checkpoint" in err and "Traceback" not in err
    assert (config.run_dir / "config.yaml").read_text() == saved


@pytest.mark.parametrize(
    ("sections", "sentence"),
    [
        ({"trainer": {"accelerator": "gpu"}}, "no CUDA GPU"),
        ({"trainer": {"accelerator": "cpu", "max_time": "abc"}}, "trainer.max_time"),
    ],
)
def test_impossible_settings_end_with_one_sentence(tmp_path, data_dir, capsys, sections, sentence):
    config = tiny_config(tmp_path, data_dir)
    path = save_config(config, tmp_path / "c.yaml")
    overrides = [f"{s}.{k}={v}" for s, fields in sections.items() for k, v in fields.items()]
    code = train_cli(["fit", str(path), "--quiet", *(a for o in overrides for a in ("--set", o))])
    err = capsys.readouterr().err
    assert code == 2 and sentence in err and "Traceback" not in err
    assert not config.run_dir.exists()  # no empty run folder left behind


def test_an_output_dir_that_is_a_file_is_one_sentence(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir)
    config.run_dir.parent.mkdir(parents=True)
    config.run_dir.write_text("not a folder")
    code, err = cli(config, capsys)
    assert code == 2 and "is a file, not a run folder" in err


def test_bad_overrides_are_one_sentence(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "x"}))
    assert train_cli(["fit", str(path), "--set", "name.x=1"]) == 2
    err = capsys.readouterr().err
    assert "name" in err and "Traceback" not in err


def test_a_run_named_dot_dot_cannot_write_into_the_working_folder(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir)
    path = save_config(config, tmp_path / "c.yaml")
    user_file = tmp_path / "config.yaml"
    user_file.write_text("the user's own config")
    code = train_cli(["fit", str(path), "--set", "name=..", "--set", f"output_dir={tmp_path / 'runs'}"])
    assert code == 2 and "name" in capsys.readouterr().err
    assert user_file.read_text() == "the user's own config"
