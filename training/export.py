"""A training checkpoint's generator as a model file, with the metadata needed to use it."""

from __future__ import annotations

from pathlib import Path

from napari_mrisr.atomic import check_writable
from napari_mrisr.models import build_model
from napari_mrisr.zoo.model_file import save_model
from napari_mrisr.zoo.model_fit import ModelGeometry, training_hr_spacing

from .checkpoints import checkpoint_config, read_checkpoint
from .config import TrainConfig

__all__ = ["export"]


def export(checkpoint: str | Path, out: str | Path, half: bool = False, replace: bool = True) -> Path:
    """Write a checkpoint's generator as a ``napari_mrisr.zoo`` model file (safetensors + metadata).

    The metadata holds the degradation it was trained for, the input geometry it expects (the
    training volumes' spacing times the factors), the training recipe and the validation
    metrics (model and cubic) of that checkpoint. ``half`` stores the weights as float16
    (:func:`napari_mrisr.zoo.model_file.save_model`). Without ``replace`` an existing ``out`` is refused
    (FileExistsError), before the checkpoint is read.
    """
    check_writable(out, replace=replace)
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"No checkpoint at {checkpoint}.")
    state = read_checkpoint(checkpoint)
    config = checkpoint_config(state, checkpoint)
    g = config.generator
    generator = build_model(g.architecture, tuple(config.degradation.factors), **g.options)
    weights = {k.removeprefix("generator."): v for k, v in state["state_dict"].items() if k.startswith("generator.")}
    generator.load_state_dict(weights)
    d = config.degradation
    steps = state.get("steps_done")
    recipe = _recipe_as_run(config, steps)
    meta = {
        "name": Path(out).stem,
        "description": (
            f"{config.generator.architecture} x{'x'.join(map(str, d.factors))} for {d.method} "
            f"degradation, trained with {config.discriminator.architecture if config.discriminator.architecture != 'none' else 'content losses only'}"
        ),
        "degradation": d.model_dump(mode="json"),
        "input_geometry": ModelGeometry.for_training(
            d.factors, training_hr_spacing(config.data.paths)
        ).to_meta(),
        "training": {
            "config": recipe.model_dump(mode="json"),
            "steps": steps,
            **({"planned_steps": config.schedule.total_steps} if recipe is not config else {}),
            "data": config.data.paths or ["MNI152 2009a T1 sample (nilearn), slab split"],
        },
        "metrics": {"validation": state.get("validation")},
    }
    return save_model(generator, out, meta, half=half, replace=replace)


def _recipe_as_run(config: TrainConfig, steps: int | None) -> TrainConfig:
    """``config`` with the schedule the checkpoint actually went through, so the embedded recipe
    reproduces the file (a run cut by max_time, or exported from an earlier checkpoint, did fewer
    steps than planned; pre-training comes first). ``config`` itself when nothing differs."""
    schedule = config.schedule
    if steps is None or steps == schedule.total_steps or steps < 1:
        return config
    pretrain = min(schedule.pretrain_steps, steps)
    done = schedule.model_copy(update={"pretrain_steps": pretrain, "adversarial_steps": steps - pretrain})
    return config.model_copy(update={"schedule": done})
