"""The third fault campaign's training failures: a failed run can be run again, nothing a user
had is replaced, every argument is one sentence before Lightning sees it, nothing hangs."""

from __future__ import annotations

import time

import pytest
import torch

from napari_mrisr.training.cli import main as train_cli
from napari_mrisr.training.config import ConfigError, load_config, save_config
from napari_mrisr.training.engine import fit
from napari_mrisr.training.form import unique_run_name
from napari_mrisr.zoo import save_model

from .helpers import tiny_config


def cli(config, capsys, *extra):
    path = save_config(config, config.run_dir.parent / f"{config.name}.yaml")
    code = train_cli(["fit", str(path), "--quiet", *extra])
    return code, capsys.readouterr().err.strip()


def one_sentence(err: str) -> bool:
    return err.startswith("mrisr-train: ") and "\n" not in err and "Traceback" not in err


def test_install_never_replaces_a_model_the_user_has(tmp_path, data_dir, user_dir, model, capsys):
    config = tiny_config(tmp_path, data_dir)
    mine = save_model(model, user_dir / f"{config.name}.safetensors")
    before = mine.read_bytes()
    code, err = cli(config, capsys, "--install")
    assert code == 2 and one_sentence(err) and "never replaces one" in err
    assert mine.read_bytes() == before and not config.run_dir.exists()  # refused before training


def test_the_train_widget_names_a_run_after_no_model_the_user_has(tmp_path, data_dir, user_dir, model):
    config = tiny_config(tmp_path, data_dir)
    save_model(model, user_dir / f"{config.name}.safetensors")
    assert unique_run_name(config) == f"{config.name}-2"


def test_a_run_that_failed_before_its_first_checkpoint_runs_again_when_corrected(tmp_path, data_dir, capsys):
    broken = tiny_config(tmp_path, data_dir, data={"paths": [str(tmp_path / "typo")]})
    code, err = cli(broken, capsys)
    assert code == 2 and "typo" in err
    assert (broken.run_dir / "config.yaml").exists()  # what the failed start left
    code, err = cli(broken, capsys, "--resume")
    assert code == 2 and "run the same command without --resume" in err
    fixed = tiny_config(tmp_path, data_dir)
    assert fixed.run_dir == broken.run_dir
    code, _ = cli(fixed, capsys)
    assert code == 0 and (fixed.run_dir / "checkpoints" / "last.ckpt").exists()
    code, err = cli(fixed, capsys)  # now it holds a run: that is never overwritten
    assert code == 2 and "already holds a run" in err


def test_a_run_folder_holding_the_users_own_files_is_left_alone(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir)
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "notes.txt").write_text("mine")
    code, err = cli(config, capsys)
    assert code == 2 and "not a training run's (notes.txt)" in err
    assert (config.run_dir / "notes.txt").read_text() == "mine"


def test_events_never_go_into_a_users_file_or_a_folder(tmp_path, data_dir, capsys):
    config = tiny_config(tmp_path, data_dir)
    own = tmp_path / "c.yaml"
    own.write_text("name: mine\n")
    code, err = cli(config, capsys, "--events", str(own))
    assert code == 2 and one_sentence(err) and "holds no events" in err
    assert own.read_text() == "name: mine\n" and not config.run_dir.exists()
    code, err = cli(config, capsys, "--events", str(tmp_path))
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("!!python/object/apply:os.system [echo]", "YAML tags that construct objects are never allowed"),
        ("[1, 2", "is not valid YAML"),
        ("[" * 5000 + "]" * 5000, "nested more than 32 levels"),
    ],
    ids=["python tag", "unparseable", "nested 5000 deep"],
)
def test_set_values_are_one_sentence(tmp_path, data_dir, capsys, value, sentence):
    config = tiny_config(tmp_path, data_dir)
    code, err = cli(config, capsys, "--set", f"generator.options={value}")
    assert code == 2 and one_sentence(err) and sentence in err


def test_a_yaml_bomb_is_refused_at_once(tmp_path):
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefghijk":
        prev = chr(ord(level) - 1)
        laughs.append(f"{level}: &{level} [{', '.join([f'*{prev}'] * 9)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("generator:\n  options:\n" + "\n".join(f"    {line}" for line in laughs) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config(path)
    assert time.perf_counter() - start < 5


def test_a_python_tag_in_a_config_file_says_tags_are_never_allowed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="tags that construct objects are never allowed"):
        load_config(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        ({"trainer.devices": 0}, "trainer.devices: Input should be greater than or equal to 1"),
        ({"trainer.devices": -3}, "trainer.devices: Input should be greater than or equal to 1"),
        ({"generator.options": {"features": 10**9}}, "is beyond 4096"),
        ({"generator.options": {"features": 2**62}}, "is beyond 4096"),
        ({"generator.options": {"bogus": 1}}, "Unknown option(s) bogus"),
        ({"discriminator.architecture": "patch", "discriminator.options": {"features": [1]}}, "must be a number"),
    ],
)
def test_hostile_training_arguments_are_refused_by_the_schema(overrides, sentence):
    with pytest.raises(ConfigError) as refused:
        load_config("tiny", overrides)
    assert sentence in str(refused.value) and "\n" not in str(refused.value)


def test_many_nodes_started_alone_are_refused_instead_of_waiting_forever(tmp_path, data_dir, capsys, monkeypatch):
    for variable in ("SLURM_NNODES", "SLURM_NTASKS", "WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    config = tiny_config(tmp_path, data_dir, trainer={"accelerator": "cpu", "num_nodes": 1000})
    start = time.perf_counter()
    code, err = cli(config, capsys)
    assert code == 2 and "need a cluster launcher" in err and time.perf_counter() - start < 30


def test_running_out_of_memory_in_the_first_step_says_so_and_suggests_a_batch(tmp_path, data_dir, monkeypatch):
    from napari_mrisr.training.module import SRModule

    def out_of_memory(self, batch, batch_idx):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 GB")

    monkeypatch.setattr(SRModule, "training_step", out_of_memory)
    config = tiny_config(tmp_path, data_dir)
    result = fit(config, progress_bar=False)
    assert result["status"] == "error"
    assert "ran out of memory with 2 patches" in result["message"] and "data.batch_size=1" in result["message"]


def test_export_half_of_weights_beyond_float16_writes_nothing(tmp_path, model):
    from napari_mrisr.zoo import ModelError

    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = 1e6
    with pytest.raises(ModelError, match="beyond float16's range"):
        save_model(model, tmp_path / "m.safetensors", half=True)
    assert not list(tmp_path.iterdir())
