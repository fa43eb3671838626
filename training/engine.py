"""Run training, export a checkpoint to a model file, evaluate a model file.

``fit`` wires Lightning: manual-optimisation :class:`~napari_mrisr.training.module.SRModule`, atomic last
and best checkpoints, CSV and TensorBoard logs, JSON-lines events, resume, and DDP through
``trainer.strategy``/``devices``/``num_nodes`` (multi-node runs are started per node, e.g. by
``srun`` or ``torchrun``, with the same config; Lightning reads the cluster environment).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from napari_mrisr.atomic import atomic_path, check_writable
from napari_mrisr.fit import ModelGeometry, training_hr_spacing
from napari_mrisr.geometry import as_factors
from napari_mrisr.inference import pick_device
from napari_mrisr.metrics import mean_tables
from napari_mrisr.precision import native_bf16
from napari_mrisr.zoo import ModelError, load_model, save_model, user_models_dir

from .config import ConfigError, TrainConfig, save_config, validate_config
from .data import SRDataModule, load_volumes, make_validation_pair, split_volumes
from .events import EventfulCheckpoint, EventLog, EventsCallback
from .module import NonFiniteLossError, SRModule
from .runner import LAUNCHER_FILES
from .validation import evaluate_pair

__all__ = ["FitResult", "evaluate", "export", "fit"]


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, made safe: atomic writes, and weights-only reads.

    A checkpoint is never half written, and reading one (``--resume``) never unpickles code,
    whatever torch's default for ``weights_only`` is (torch < 2.6, or an environment that
    forces it off).
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        try:
            return super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:  # an UnpicklingError for anything but tensors and plain data
            raise ModelError(
                f"{Path(path).name!r} is not a checkpoint this package wrote: it does not read as "
                "tensors and plain data, and anything else in it is never unpickled."
            ) from exc


class FitResult(dict):
    """``status`` (finished/stopped/error), ``message``, ``best``, ``last``, ``model``, ``validation``."""


def _precision(config: TrainConfig) -> str:
    """``trainer.precision``; auto = bf16-mixed where the training device computes bfloat16
    natively (a GPU, or a CPU with AVX512-BF16 or AMX: 1.7x the float32 patches/s on 2 Zen 4
    cores)."""
    if config.trainer.precision != "auto":
        return config.trainer.precision
    accelerator = config.trainer.accelerator
    device = pick_device() if accelerator == "auto" else torch.device("cuda" if accelerator == "gpu" else accelerator)
    return "bf16-mixed" if native_bf16(device) else "32-true"


def build_trainer(config: TrainConfig, log: EventLog, progress_bar: bool = True) -> pl.Trainer:
    run_dir = config.run_dir
    checkpoints = run_dir / "checkpoints"
    best = EventfulCheckpoint(
        log,
        dirpath=checkpoints,
        filename="best",
        monitor="val_psnr_brain",
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    # A separate, unmonitored callback: Lightning's save_last only writes when the best improves.
    last = EventfulCheckpoint(log, dirpath=checkpoints, filename="last", save_top_k=1, enable_version_counter=False)
    t = config.trainer
    return pl.Trainer(
        default_root_dir=run_dir,
        accelerator="gpu" if t.accelerator == "cuda" else t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=_precision(config),
        max_epochs=SRModule.epochs_for(config),
        max_time=t.max_time,
        num_sanity_val_steps=0,
        log_every_n_steps=min(config.schedule.log_every, config.schedule.steps_per_epoch),
        logger=[CSVLogger(run_dir, name="csv"), TensorBoardLogger(run_dir, name="tensorboard")],
        callbacks=[EventsCallback(log), best, last]
        # The bar reads the loss from the GPU when it redraws: every log_every steps, not each step.
        + ([TQDMProgressBar(refresh_rate=config.schedule.log_every)] if progress_bar else []),
        plugins=[SafeCheckpointIO()],
        enable_progress_bar=progress_bar,
        enable_model_summary=progress_bar,  # quiet runs (the Train widget's) print problems only
        use_distributed_sampler=True,
        reload_dataloaders_every_n_epochs=1,  # the last epoch may be shorter
    )


def fit(
    config: TrainConfig,
    resume: bool = False,
    events: str | Path | None = None,
    install: bool = False,
    progress_bar: bool = True,
) -> FitResult:
    """Train a model from a config; export the best checkpoint as ``RUN_DIR/NAME.safetensors``.

    Parameters
    ----------
    config : TrainConfig
    resume : bool
        Continue from ``RUN_DIR/checkpoints/last.ckpt`` (the schedule, optimisers and the best
        score are restored). Without it an existing run folder is refused.
    events : path, "-" or None
        Where JSON-lines progress events go (``-``: stdout); default ``RUN_DIR/events.jsonl``.
    install : bool
        Also copy the exported model into the user's model folder, where the napari plugin
        lists it.

    Returns
    -------
    FitResult
        ``status`` is ``finished``, ``stopped`` (SIGTERM: the last checkpoint is written) or
        ``error`` (NaN/Inf loss: nothing written after the last good checkpoint).
    """
    run_dir = config.run_dir
    last = run_dir / "checkpoints" / "last.ckpt"
    _check_run(config, resume)
    created = not run_dir.exists()
    try:
        log = EventLog(events if events is not None else run_dir / "events.jsonl")
        pl.seed_everything(config.seed, workers=True, verbose=False)
        save_config(config, run_dir / "config.yaml")
        module = SRModule(config.model_dump(mode="json"))
        data = SRDataModule(config)
        trainer = build_trainer(config, log, progress_bar)
    except BaseException:
        if created:  # nothing was trained: leave no empty run folder behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    log.emit(
        "start",
        run_dir=str(run_dir),
        total_steps=config.schedule.total_steps,
        device=str(trainer.strategy.root_device),
        config=config.name,
        resumed=resume,
    )
    result = FitResult(status="finished", message="", last=str(last), best=None, model=None, validation=None)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume else None)
    except NonFiniteLossError as exc:
        result.update(status="error", message=str(exc))
    except SIGTERMException:
        pass  # reported below: SIGTERM during the last step ends fit() without raising
    except Exception as exc:
        log.emit("end", status="error", message=f"{type(exc).__name__}: {exc}")
        raise
    if trainer.received_sigterm and result["status"] == "finished":
        result.update(status="stopped", message="Stopped on request; the last checkpoint is kept.")
    best = run_dir / "checkpoints" / "best.ckpt"
    if best.is_file() and trainer.is_global_zero:
        result["best"] = str(best)
        if result["status"] == "finished":
            model_path = export(best, run_dir / f"{config.name}.safetensors")
            if install:
                model_path = _install(model_path)
            result["model"] = str(model_path)
    result["validation"] = module.last_validation
    if trainer.is_global_zero:
        log.emit("end", **result)
    return result


def _check_run(config: TrainConfig, resume: bool) -> None:
    """Refuse, before anything is written, a run that would overwrite or mis-resume another.

    Without ``resume`` the run folder must be new (or empty). With it, the last checkpoint is
    read weights-only and must hold the same networks and degradation as ``config``.
    """
    if config.trainer.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError("trainer.accelerator: a GPU was requested but this machine has no CUDA GPU; use auto or cpu.")
    if config.trainer.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator: mps was requested but this machine has no Apple GPU; use auto or cpu.")
    run_dir = config.run_dir
    last = run_dir / "checkpoints" / "last.ckpt"
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"{str(run_dir)!r} is a file, not a run folder; pick another name or output_dir.")
    if rank_zero_only.rank != 0:  # DDP's other ranks start after rank 0 has checked and begun
        return
    if not resume:
        if run_dir.is_dir() and any(p.name not in LAUNCHER_FILES for p in run_dir.iterdir()):
            raise FileExistsError(
                f"{run_dir} already holds a run; pass --resume to continue it or pick another name."
            )
        return
    if not last.is_file():
        raise FileNotFoundError(f"Nothing to resume: no checkpoint at {last}.")
    saved = _checkpoint_config(_read_checkpoint(last), last)
    for field in ("generator", "discriminator", "degradation"):
        old, new = getattr(saved, field).model_dump(mode="json"), getattr(config, field).model_dump(mode="json")
        old.pop("init_weights", None), new.pop("init_weights", None)
        if old != new:
            raise ConfigError(
                f"--resume continues the run as it was trained, but {field} differs from its "
                f"checkpoint ({old} there, {new} now); start a new run to change it."
            )


def _install(model_path: Path) -> Path:
    """Copy an exported model into the user's model folder (atomically, like every write)."""
    target = user_models_dir() / model_path.name
    with atomic_path(target) as tmp:
        shutil.copyfile(model_path, tmp)
    return target


def _read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, read weights-only (tensors and plain data; nothing executed)."""
    return SafeCheckpointIO().load_checkpoint(path)


def _checkpoint_config(state: dict, path: Path) -> TrainConfig:
    try:
        return validate_config(state["hyper_parameters"]["config"], path.name)
    except (KeyError, TypeError) as exc:
        raise ModelError(
            f"{path.name!r} has no training config; was it written by `python -m napari_mrisr.training fit`?"
        ) from exc


def export(checkpoint: str | Path, out: str | Path, half: bool = False, replace: bool = True) -> Path:
    """Write a checkpoint's generator as a ``napari_mrisr.zoo`` model file (safetensors + metadata).

    The metadata holds the degradation it was trained for, the input geometry it expects (the
    training volumes' spacing times the factors), the training recipe and the validation
    metrics (model and cubic) of that checkpoint. ``half`` stores the weights as float16
    (:func:`napari_mrisr.zoo.save_model`). Without ``replace`` an existing ``out`` is refused
    (FileExistsError), before the checkpoint is read.
    """
    check_writable(out, replace=replace)
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"No checkpoint at {checkpoint}.")
    state = _read_checkpoint(checkpoint)
    config = _checkpoint_config(state, checkpoint)
    document = config.model_dump(mode="json")
    document["generator"]["init_weights"] = None  # the checkpoint's weights replace them anyway
    module = SRModule(document)
    generator = {k.removeprefix("generator."): v for k, v in state["state_dict"].items() if k.startswith("generator.")}
    module.generator.load_state_dict(generator)
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
    return save_model(module.generator, out, meta, half=half, replace=replace)


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


def evaluate(
    model: str | Path, data: list[str], held_out: bool = True, device: str = "auto", tile: int | None = None
) -> dict[str, dict[str, float]]:
    """Metrics of a model file and of cubic interpolation on volumes, with the model's degradation.

    ``data`` empty means the MNI152 sample; with ``held_out`` (default) only the validation
    volumes/slab of the model's own training split are used, so training data is never scored.
    """
    net = load_model(model)
    meta = net.meta
    training = (meta.get("training") or {}).get("config")
    config = validate_config(training) if training else None
    if config is None:
        from .config import DegradationConfig

        degradation = DegradationConfig.model_validate(meta.get("degradation") or {"factors": list(net.scale)})
        data_config = TrainConfig().data
        seed = 0
    else:
        degradation, data_config, seed = config.degradation, config.data, config.seed
    volumes = load_volumes(data)
    if held_out:
        _, volumes = split_volumes(volumes, data_config, as_factors(degradation.factors), seed)
    results = [
        evaluate_pair(net, make_validation_pair(v, degradation, i), device=device, tile=tile)[0]
        for i, v in enumerate(volumes)
    ]
    return mean_tables(results)
