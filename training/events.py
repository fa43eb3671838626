"""Progress events as JSON lines, for the napari Train widget and for scripts.

Each line is one JSON object with an ``event`` field:

- ``start``: ``run_dir``, ``total_steps``, ``device``, ``config``
- ``step``: ``step``, ``total_steps``, ``phase`` (``pretrain``/``adversarial``), ``losses``,
  ``patches_per_s``, ``eta_s``
- ``validation``: ``step``, ``metrics`` (``model`` and ``cubic``: PSNR/SSIM/NRMSE in the brain
  mask and whole volume), ``samples`` (PNG path)
- ``checkpoint``: ``step``, ``path``, ``kind`` (``last``/``best``)
- ``end``: ``status`` (``finished``/``stopped``/``error``), ``message``, ``best``, ``model``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

__all__ = ["EventLog", "EventsCallback", "EventfulCheckpoint", "read_events"]


class EventLog:
    """Appends JSON lines to a file, or writes them to stdout (``path=None`` or ``"-"``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path in (None, "-") else Path(path)
        self._stream: IO[str] | None = None
        if self.path is not None:
            check_events_path(self.path)

    def emit(self, event: str, **fields: Any) -> None:
        if rank_zero_only.rank != 0:  # one stream of events per run, written by rank 0 under DDP
            return
        record = {"event": event, "time": round(time.time(), 3), **fields}
        line = json.dumps(record, default=_plain)
        if self.path is None:
            print(line, file=sys.stdout, flush=True)
            return
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._stream.write(line + "\n")
        self._stream.flush()


def check_events_path(path: Path) -> None:
    """Refuse, before anything is written, an events path that is a folder or a file other than
    an events log (events are appended: a config or a scan there would be spoiled)."""
    if path.is_dir():
        raise IsADirectoryError(f"--events {str(path)!r} is a folder; give a file name such as events.jsonl.")
    if path.exists():
        try:
            with open(path, encoding="utf-8") as f:
                first = f.readline(4096)
            ours = not first or "event" in json.loads(first)
        except (OSError, UnicodeDecodeError, ValueError, TypeError):
            ours = False
        if not ours:
            raise FileExistsError(
                f"--events {str(path)!r} is a file that holds no events; appending would spoil it, "
                "so give events a file of their own."
            )


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_events(path: str | Path) -> list[dict]:
    """All complete events in a JSON-lines file (a half-written last line is skipped)."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


class EventsCallback(Callback):
    """Emits ``step`` and ``validation`` events while Lightning trains an ``SRModule``."""

    def __init__(self, log: EventLog) -> None:
        self.events = log
        self._t0: float | None = None
        self._step0 = 0

    def on_train_batch_start(self, trainer: pl.Trainer, module, batch, batch_idx: int) -> None:
        # The rate counts from the first step this process runs (a resumed run starts mid-way).
        if self._t0 is None:
            self._t0 = time.perf_counter()
            self._step0 = module.step_number(batch_idx)

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        schedule = module.config.schedule
        step = module.step_number(batch_idx) + 1
        if step % schedule.log_every and step != schedule.total_steps:
            return
        elapsed = time.perf_counter() - (self._t0 or time.perf_counter())
        rate = (step - self._step0) / elapsed if elapsed > 0 else 0.0
        metrics = trainer.callback_metrics
        self.events.emit(
            "step",
            step=step,
            total_steps=schedule.total_steps,
            epoch=trainer.current_epoch,
            phase="adversarial" if module.is_adversarial(step - 1) else "pretrain",
            losses={k.removeprefix("train/"): float(v) for k, v in metrics.items() if k.startswith("train/loss")},
            patches_per_s=round(rate * module.config.data.batch_size * trainer.world_size, 2),
            eta_s=round((schedule.total_steps - step) / rate, 1) if rate > 0 else None,
        )

    def on_validation_end(self, trainer: pl.Trainer, module) -> None:
        # (after the module's on_validation_epoch_end has computed the table)
        if trainer.sanity_checking or module.last_validation is None or not trainer.is_global_zero:
            return
        self.events.emit(
            "validation",
            step=module.steps_done,
            metrics=module.last_validation,
            samples=str(module.last_samples) if module.last_samples else None,
        )


class EventfulCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint that also emits a ``checkpoint`` event after each save."""

    def __init__(self, log: EventLog, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events = log

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            kind = "last" if Path(filepath).stem == self.CHECKPOINT_NAME_LAST else "best"
            self.events.emit("checkpoint", step=trainer.lightning_module.steps_done, path=filepath, kind=kind)

    def on_exception(self, trainer: pl.Trainer, module, exception: BaseException) -> None:
        """On SIGTERM (Lightning raises after the current step completes) keep that state."""
        if isinstance(exception, SIGTERMException) and self.dirpath and self.monitor is None:
            self._save_checkpoint(trainer, str(Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}.ckpt"))
