"""The Train widget's settings as a validated config: the form's maths, with no Qt.

The napari Train widget reads its fields into :class:`TrainForm` and calls
:func:`config_from_form`; tests call it directly. This is where a preset's patch shape is
scaled to the form's edge, devices become Lightning accelerators, layers become files the
training subprocess can read, and a run gets a name that never overwrites an earlier run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from napari_mrisr.engine.devices import Device
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.io import save_volume

from .config import TrainConfig, load_config, validate_config

__all__ = ["TrainForm", "config_from_form", "form_from_preset", "learning_rate", "runs_dir", "save_for_training", "unique_run_name"]

@dataclass
class TrainForm:
    """What the Train widget lets a user set on top of a preset."""

    preset: str
    name: str
    method: str
    factors: list[int]
    pretrain_steps: int
    adversarial_steps: int
    batch_size: int
    patch_edge: int
    lr: float
    device: str = "auto"
    data_paths: list[str] = field(default_factory=list)  # empty: the MNI152 sample


def learning_rate(text: str) -> float:
    """The learning rate typed in the form (``1e-4``, ``0.0002``); one sentence if it is none."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:  # also refuses nan and inf
        raise ValueError(f"The learning rate must be a number above 0 and at most 1, such as 1e-4, not {text!r}.")
    return value


def runs_dir() -> Path:
    """Where runs started from napari are written: ``$NAPARI_MRISR_RUNS`` or the user data folder."""
    env = os.environ.get("NAPARI_MRISR_RUNS")
    return Path(env) if env else Path(platformdirs.user_data_dir("napari-mrisr")) / "runs"


def unique_run_name(config: TrainConfig) -> str:
    """The config's name, or name-2, name-3... so an existing run, or a model in the user's
    model folder (where the Train widget installs every run), is never overwritten."""
    from napari_mrisr.zoo.folders import user_models_dir

    def taken(name: str) -> bool:
        installed = user_models_dir() / f"{name}.safetensors"
        return (Path(config.output_dir) / name).exists() or installed.exists()

    name, n = config.name, 1
    while taken(name):
        n += 1
        name = f"{config.name}-{n}"
    return name


def form_from_preset(preset: str) -> TrainForm:
    """The form's fields as a preset sets them."""
    c = load_config(preset)
    return TrainForm(
        preset=preset,
        name=c.name,
        method=str(c.degradation.method),
        factors=list(c.degradation.factors),
        pretrain_steps=c.schedule.pretrain_steps,
        adversarial_steps=c.schedule.adversarial_steps,
        batch_size=c.data.batch_size,
        patch_edge=max(c.data.patch_size),
        lr=c.optim.lr_generator,
    )


def config_from_form(form: TrainForm, output_dir: str | os.PathLike | None = None) -> TrainConfig:
    """The preset with the form's fields applied, validated, under a fresh run name.

    The preset's patch shape (e.g. the thin slabs of srgan2d) is kept, scaled so its longest
    edge is ``patch_edge``, each edge a multiple of its factor. Raises
    :class:`~napari_mrisr.training.config.ConfigError` naming a bad field.
    """
    base = load_config(form.preset)
    doc = base.model_dump(mode="json")
    factors = [int(f) for f in form.factors]
    top = max(base.data.patch_size)
    doc["name"] = form.name.strip() or base.name
    doc["output_dir"] = str(output_dir if output_dir is not None else runs_dir())
    doc["degradation"].update(method=form.method, factors=factors)
    doc["schedule"].update(pretrain_steps=form.pretrain_steps, adversarial_steps=form.adversarial_steps)
    doc["data"].update(
        batch_size=form.batch_size,
        patch_size=[
            max(f, round(p * form.patch_edge / top / f) * f)
            for p, f in zip(base.data.patch_size, factors, strict=True)
        ],
        paths=list(form.data_paths),
    )
    doc["optim"]["lr_generator"] = form.lr
    if form.device not in set(Device):
        raise ValueError(f"Unknown device {form.device!r}; choose one of {', '.join(Device)}.")
    doc["trainer"]["accelerator"] = form.device
    config = validate_config(doc, "training settings")
    return config.model_copy(update={"name": unique_run_name(config)})


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".") or "volume"


def save_for_training(volumes: list[Volume], folder: str | os.PathLike) -> list[str]:
    """Write volumes (e.g. napari layers) as NIfTI files the training subprocess reads."""
    folder = Path(folder)
    return [str(save_volume(v, folder / f"{_file_name(v.name)}.nii.gz")) for v in volumes]
