"""Run training: Lightning wired to the module, the data, checkpoints, logs and events.

``fit`` wires Lightning: manual-optimisation :class:`~napari_mrisr.training.module.SRModule`,
atomic last and best checkpoints, CSV and TensorBoard logs, JSON-lines events, resume, and
DDP through ``trainer.strategy``/``devices``/``num_nodes`` (multi-node runs are started per
node, e.g. by ``srun`` or ``torchrun``, with the same config; Lightning reads the cluster
environment). The finished run's best checkpoint is exported (:mod:`.export`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from napari_mrisr.atomic import atomic_path, byte_size
from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.precision import resolve_precision
from napari_mrisr.zoo.folders import user_models_dir

from .checkpoints import SafeCheckpointIO, checkpoint_config, read_checkpoint
from .config import ConfigError, TrainConfig, save_config
from .data.datamodule import SRDataModule
from .events import EventfulCheckpoint, EventLog, EventsCallback
from .export import export
from .module import NonFiniteLossError, SRModule
from .runner import LAUNCHER_FILES

__all__ = ["FitResult", "build_trainer", "fit"]


class FitResult(dict):
    """``status`` (finished/stopped/error), ``message``, ``best``, ``last``, ``model``, ``validation``."""


def training_precision(config: TrainConfig) -> str:
    """``trainer.precision``, with ``auto`` settled for the device training runs on."""
    if config.trainer.precision != "auto":
        return config.trainer.precision
    return resolve_precision("auto", pick_device(config.trainer.accelerator))


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
        precision=str(training_precision(config)),
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
    _check_run(config, resume, install)
    created = not run_dir.exists()
    try:
        log = EventLog(events if events is not None else run_dir / "events.jsonl")
        pl.seed_everything(config.seed, workers=True, verbose=False)
        save_config(config, run_dir / "config.yaml")
        module = SRModule(config)
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
        if not _out_of_memory(exc):
            log.emit("end", status="error", message=f"{type(exc).__name__}: {exc}")
            raise
        batch = config.data.batch_size
        smaller = f"data.batch_size={batch // 2}" if batch > 1 else "smaller data.patch_size"
        result.update(
            status="error",
            message=f"Training ran out of memory with {batch} patches of {config.data.patch_size} "
            f"voxels per step on {trainer.strategy.root_device}; try {smaller}.",
        )
    if trainer.received_sigterm and result["status"] == "finished":
        result.update(status="stopped", message="Stopped on request; the last checkpoint is kept.")
    best = run_dir / "checkpoints" / "best.ckpt"
    if best.is_file() and trainer.is_global_zero:
        result["best"] = str(best)
        if result["status"] == "finished":
            model_path = export(best, run_dir / f"{config.name}.safetensors")
            if install:
                try:
                    model_path = _install(model_path)
                except FileExistsError as exc:  # it appeared while training: never replaced
                    result["message"] = f"{exc} The model stays in {run_dir}."
            result["model"] = str(model_path)
    result["validation"] = module.last_validation
    if trainer.is_global_zero:
        log.emit("end", **result)
    return result


def _check_run(config: TrainConfig, resume: bool, install: bool = False) -> None:
    """Refuse, before anything is written, a run that would overwrite or mis-resume another.

    Without ``resume`` the run folder must be new, empty, or hold only what a run that never
    reached a checkpoint left (its config, logs and events, cleared here so the corrected
    command simply runs). With it, the last checkpoint is read weights-only and must hold the
    same networks and degradation as ``config``. With ``install``, no model of the run's name
    may be in the user's model folder: training never replaces one.
    """
    if config.trainer.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError("trainer.accelerator: a GPU was requested but this machine has no CUDA GPU; use auto or cpu.")
    if config.trainer.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator: mps was requested but this machine has no Apple GPU; use auto or cpu.")
    _check_nodes(config)
    _check_network_size(config)
    run_dir = config.run_dir
    last = run_dir / "checkpoints" / "last.ckpt"
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"{str(run_dir)!r} is a file, not a run folder; pick another name or output_dir.")
    if install and (user_models_dir() / f"{config.name}.safetensors").exists():
        raise FileExistsError(
            f"Your model folder already holds a model named {config.name!r} "
            f"({user_models_dir() / f'{config.name}.safetensors'}); training never replaces one, "
            "so pick another name (--set name=...) or move that file."
        )
    if rank_zero_only.rank != 0:  # DDP's other ranks start after rank 0 has checked and begun
        return
    if not resume:
        _clear_unstarted_run(config)
        return
    if not last.is_file():
        raise FileNotFoundError(
            f"Nothing to resume: no checkpoint at {last}; run the same command without --resume "
            "to start it again."
        )
    saved = checkpoint_config(read_checkpoint(last), last)
    for field in ("generator", "discriminator", "degradation"):
        old, new = getattr(saved, field).model_dump(mode="json"), getattr(config, field).model_dump(mode="json")
        old.pop("init_weights", None), new.pop("init_weights", None)
        if old != new:
            raise ConfigError(
                f"--resume continues the run as it was trained, but {field} differs from its "
                f"checkpoint ({old} there, {new} now); start a new run to change it."
            )


def _run_files(config: TrainConfig) -> set[str]:
    """The names a run writes in its folder (before its checkpoints and model)."""
    return {"config.yaml", "events.jsonl", "csv", "tensorboard", "samples", "checkpoints", *LAUNCHER_FILES}


def _clear_unstarted_run(config: TrainConfig) -> None:
    """Let a run start in its folder: refuse one that holds a checkpoint, a model or files that
    are no run's; clear what a run that never reached a checkpoint left behind."""
    run_dir = config.run_dir
    if not run_dir.is_dir():
        return
    entries = list(run_dir.iterdir())
    saved = list((run_dir / "checkpoints").glob("*.ckpt")) + [
        p for p in entries if p.suffix == ".safetensors"
    ]
    if saved:
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume to continue it or pick another name."
        )
    foreign = sorted(p.name for p in entries if p.name not in _run_files(config))
    if foreign:
        raise FileExistsError(
            f"{run_dir} holds files that are not a training run's ({', '.join(foreign[:3])}); "
            "pick another name or output_dir."
        )
    for path in entries:
        if path.name in LAUNCHER_FILES:  # the Train widget's request and its process's log
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()


#: Environment variables by which a cluster launcher (SLURM, torchrun, MPI) says how many
#: processes a run has; Lightning reads them.
_WORLD_VARIABLES = ("SLURM_NNODES", "SLURM_NTASKS", "WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def _check_nodes(config: TrainConfig) -> None:
    """Refuse a multi-node run that was started alone: it would wait for the other nodes forever."""
    nodes = config.trainer.num_nodes
    if nodes > 1 and not any(os.environ.get(v) for v in _WORLD_VARIABLES):
        raise ConfigError(
            f"trainer.num_nodes: {nodes} nodes need a cluster launcher (srun, torchrun) that starts "
            "this command on every node; started alone, training would wait for the others forever."
        )


#: Bytes a trained weight takes: itself, its gradient and Adam's two moments, in float32.
_BYTES_PER_WEIGHT = 16


def _check_network_size(config: TrainConfig) -> None:
    """Refuse networks whose weights and optimiser state alone exceed the memory this machine
    can spare (counted on the meta device: nothing is allocated)."""
    from napari_mrisr.models import build_model
    from napari_mrisr.volume.io import available_bytes

    from .discriminators import build_discriminator

    with torch.device("meta"):
        g = config.generator
        nets = [build_model(g.architecture, tuple(config.degradation.factors), **g.options)]
        if config.discriminator.architecture != "none":
            nets.append(build_discriminator(config.discriminator.architecture, **config.discriminator.options))
    weights = sum(p.numel() for net in nets for p in net.parameters())
    needed, available = weights * _BYTES_PER_WEIGHT, available_bytes()
    if needed > available:
        raise ConfigError(
            f"generator.options / discriminator.options: {weights:,} weights need "
            f"{byte_size(needed)} to train, more than the {byte_size(available)} this machine can spare."
        )


def _out_of_memory(exc: BaseException) -> bool:
    """Whether an exception says a device or the host ran out of memory."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _install(model_path: Path) -> Path:
    """Copy an exported model into the user's model folder (atomically, like every write);
    an existing model of that name is never replaced (FileExistsError)."""
    target = user_models_dir() / model_path.name
    try:
        with atomic_path(target, replace=False) as tmp:
            shutil.copyfile(model_path, tmp)
    except FileExistsError:
        raise FileExistsError(
            f"A model named {target.stem!r} appeared in {target.parent} while training; it was kept."
        ) from None
    return target
