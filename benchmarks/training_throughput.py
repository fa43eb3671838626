"""Training throughput per preset: the data path alone, the training step alone, the whole loop.

For each preset of ``training/configs`` (or ``--preset``), on the MNI152 sample, in patches per
second (timed after ``--warmup`` steps, over ``--steps`` training steps or ``--data-steps``
batches of the data path alone, enough to drain the workers' prefetched batches):

- data, workers: the CPU DataLoader pipeline as the preset configures it (``num_workers``);
- data, device: :class:`~napari_mrisr.training.data.device.DeviceBatches` on ``--device``;
- step: Lightning training steps on one ready batch (no data cost): generator (and, in a GAN
  preset, discriminator) forward, backward and update, in the precision ``fit`` would use;
- loop, workers / loop, device: Lightning steps fed by that pipeline;
- on CUDA, the GPU busy % during each (``torch.cuda.utilization``, sampled in a thread);
- ops/step: the operators one training step dispatches (Lightning's included), each a kernel
  launch or more on a GPU, where a small network's step is bound by launches, not arithmetic.

GAN presets are timed in their adversarial phase. The default run (a few minutes on 2 CPU
cores) times the small presets; ``--preset all`` times every one.

    python benchmarks/training_throughput.py [--device cpu|cuda] [--preset tiny mni_x2_iso | all]
        [--warmup 2] [--steps 4] [--data-steps 25] [--set data.batch_size=16 ...] [--compile MODE]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
import warnings

import lightning.pytorch as pl
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader

from napari_mrisr.training.config import list_presets, load_config, load_yaml
from napari_mrisr.training.data.datamodule import SRDataModule
from napari_mrisr.training.data.device import DeviceBatches, to_device
from napari_mrisr.training.engine import training_precision
from napari_mrisr.training.module import SRModule

DEFAULT_PRESETS = ["tiny", "mni_x2_iso", "mni_x4_thick"]


class GpuBusy:
    """Mean ``torch.cuda.utilization()`` over a ``with`` block, sampled every 50 ms (CUDA only)."""

    def __init__(self, device: torch.device) -> None:
        self.on = device.type == "cuda"
        self.samples: list[int] = []
        self.missing = ""
        if self.on:
            try:
                torch.cuda.utilization(device)
            except Exception as exc:  # it needs NVML (the nvidia-ml-py package)
                self.on, self.missing = False, f" (busy % n/a: {type(exc).__name__})"

    def __enter__(self) -> GpuBusy:
        self._stop = threading.Event()
        if self.on:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(torch.cuda.utilization())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.on:
            self._thread.join()

    def text(self) -> str:
        if not self.samples:
            return self.missing
        return f" ({sum(self.samples) / len(self.samples):.0f}% busy)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_batches(
    batches, warmup: int, steps: int, batch_size: int, device: torch.device
) -> tuple[float, str]:
    """Patches/s of ``steps`` batches after ``warmup``, moved to ``device`` as Lightning would."""
    iterator = iter(batches)
    for _ in range(warmup):
        next(iterator)
    with GpuBusy(device) as busy:
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            lr, hr = next(iterator)
            lr.to(device, non_blocking=True), hr.to(device, non_blocking=True)
        _sync(device)
        seconds = time.perf_counter() - start
    return steps * batch_size / seconds, busy.text()


class _OpCounter(TorchDispatchMode):
    """Counts the operators dispatched while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


class _Clock(pl.Callback):
    """Times the training batches after the first ``warmup``; counts the last warm-up step's ops."""

    def __init__(self, warmup: int, device: torch.device, count_ops: bool = False) -> None:
        self.warmup, self.device = warmup, device
        self.busy = GpuBusy(device)
        self.start = self.end = 0.0
        self.steps = 0
        self.ops = _OpCounter() if count_ops else None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self.ops is not None and batch_idx + 1 == self.warmup:
            self.ops.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.ops is not None and batch_idx + 1 == self.warmup:
            self.ops.__exit__(None, None, None)
        _sync(self.device)
        if batch_idx + 1 == self.warmup:
            self.start = time.perf_counter()
            self.busy.__enter__()
        elif batch_idx + 1 > self.warmup:
            self.end = time.perf_counter()
            self.steps += 1

    def on_train_end(self, trainer, module) -> None:
        self.busy.__exit__()


def timed_fit(
    config, loader, warmup: int, steps: int, device: torch.device, count_ops: bool = False
) -> tuple[float, str]:
    """Patches/s of Lightning training steps fed by ``loader`` (a DataModule or an iterable);
    with ``count_ops``, the text also gives the ops one step dispatches."""
    clock = _Clock(warmup, device, count_ops)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else device.type,
        devices=1,
        precision=training_precision(config),
        max_epochs=1,
        limit_train_batches=warmup + steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    module = SRModule(config.model_dump(mode="json"))
    if isinstance(loader, SRDataModule):
        trainer.fit(module, datamodule=loader)
    else:
        trainer.fit(module, train_dataloaders=loader)
    ops = f", {clock.ops.count} ops/step" if clock.ops is not None else ""
    return clock.steps * config.data.batch_size / (clock.end - clock.start), clock.busy.text() + ops


def measure(
    preset: str,
    device: torch.device,
    warmup: int,
    steps: int,
    data_steps: int,
    sets: dict | None = None,
    compile_mode: str | None = None,
) -> dict[str, tuple[float, str]]:
    n = warmup + max(steps, data_steps)
    sets = sets or {}
    base = load_config(preset, sets)
    gan = base.schedule.adversarial_steps > 0
    overrides = {
        "schedule.pretrain_steps": 0 if gan else n,
        "schedule.adversarial_steps": n if gan else 0,
        "schedule.steps_per_epoch": n,
        "trainer.accelerator": "gpu" if device.type == "cuda" else device.type,
    }
    config = {
        p: load_config(preset, {**sets, **overrides, "data.pipeline": p}) for p in ("workers", "device")
    }
    if compile_mode:
        config["device, compiled"] = load_config(
            preset, {**sets, **overrides, "data.pipeline": "device", "trainer.compile": compile_mode}
        )
    data = SRDataModule(config["workers"])
    data.setup()
    tensors = to_device(data.train_volumes, device)
    batch_size = base.data.batch_size
    device_batches = DeviceBatches(data.train_volumes, tensors, base, n, seed=0)
    one = next(iter(device_batches))
    results = {
        "data, workers": timed_batches(
            data.train_dataloader(), warmup, data_steps, batch_size, device
        ),
        "data, device": timed_batches(device_batches, warmup, data_steps, batch_size, device),
        "step": timed_fit(
            config["device"], DataLoader([one] * n, batch_size=None), warmup, steps, device, count_ops=True
        ),
    }
    for pipeline, cfg in config.items():
        module = SRDataModule(cfg)
        module.train_volumes, module.validation = data.train_volumes, data.validation  # set up once
        results[f"loop, {pipeline}"] = timed_fit(cfg, module, warmup, steps, device)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", nargs="*", default=DEFAULT_PRESETS, help="preset names, or all")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--data-steps", type=int, default=25)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config override (YAML value)")
    parser.add_argument("--compile", metavar="MODE", help="also time the device loop with trainer.compile=MODE")
    args = parser.parse_args()
    sets = {k: load_yaml(v, f"--set {k}") for k, v in (item.split("=", 1) for item in args.set)}
    presets = list_presets() if args.preset == ["all"] else args.preset
    device = torch.device(args.device)
    warnings.filterwarnings("ignore", module="lightning")  # e.g. "does not have many workers"
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    print(
        f"device: {device}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"{args.steps} steps ({args.data_steps} for the data alone) after {args.warmup}; patches/s"
    )
    columns = ["data, workers", "data, device", "step", "loop, workers", "loop, device"]
    columns += ["loop, device, compiled"] if args.compile else []
    if sets:
        print("overrides:", ", ".join(f"{k}={v}" for k, v in sets.items()))
    print("| preset | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for preset in presets:
        r = measure(preset, device, args.warmup, args.steps, args.data_steps, sets, args.compile)
        print(
            f"| {preset} | " + " | ".join(f"{r[c][0]:.1f}{r[c][1]}" for c in columns) + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
