"""Training throughput per preset: the data path alone, the training step alone, the whole loop.

For each preset of ``training/configs`` (or ``--preset``), on the MNI152 sample, in patches per
second (timed after ``--warmup`` steps, over ``--steps`` training steps or ``--data-steps``
batches of the data path alone, enough to drain the workers' prefetched batches):

- data, workers: the CPU DataLoader pipeline as the preset configures it (``num_workers``);
- data, device: :class:`~napari_mrisr.training.device_data.DeviceBatches` on ``--device``;
- step: Lightning training steps on one ready batch (no data cost): generator (and, in a GAN
  preset, discriminator) forward, backward and update, in the precision ``fit`` would use;
- loop, workers / loop, device: Lightning steps fed by that pipeline;
- on CUDA, the GPU busy % during each (``torch.cuda.utilization``, sampled in a thread).

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
import yaml
from torch.utils.data import DataLoader

from napari_mrisr.training.config import list_presets, load_config
from napari_mrisr.training.data import SRDataModule
from napari_mrisr.training.device_data import DeviceBatches, to_device
from napari_mrisr.training.engine import _precision
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


class _Clock(pl.Callback):
    """Times the training batches after the first ``warmup``."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.busy = GpuBusy(device)
        self.start = self.end = 0.0
        self.steps = 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
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
    config, loader, warmup: int, steps: int, device: torch.device, compile_mode: str | None = None
) -> tuple[float, str]:
    """Patches/s of Lightning training steps fed by ``loader`` (a DataModule or an iterable),
    with the generator (and discriminator) compiled by ``torch.compile`` in ``compile_mode``."""
    clock = _Clock(warmup, device)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else device.type,
        devices=1,
        precision=_precision(config),
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
    if compile_mode:
        for net in (module.generator, module.discriminator):
            if net is not None:
                net.compile(mode=compile_mode)  # in place: state_dict keys stay as they are
    if isinstance(loader, SRDataModule):
        trainer.fit(module, datamodule=loader)
    else:
        trainer.fit(module, train_dataloaders=loader)
    return clock.steps * config.data.batch_size / (clock.end - clock.start), clock.busy.text()


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
        "step": timed_fit(base, DataLoader([one] * n, batch_size=None), warmup, steps, device),
    }
    for pipeline, cfg in config.items():
        module = SRDataModule(cfg)
        module.train_volumes, module.validation = data.train_volumes, data.validation  # set up once
        results[f"loop, {pipeline}"] = timed_fit(cfg, module, warmup, steps, device)
    if compile_mode:
        module = SRDataModule(config["device"])
        module.train_volumes, module.validation = data.train_volumes, data.validation
        results["loop, device, compiled"] = timed_fit(config["device"], module, warmup, steps, device, compile_mode)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", nargs="*", default=DEFAULT_PRESETS, help="preset names, or all")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--data-steps", type=int, default=25)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="config override (YAML value)")
    parser.add_argument("--compile", metavar="MODE", help="also time the device loop under torch.compile(mode=MODE)")
    args = parser.parse_args()
    sets = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
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
