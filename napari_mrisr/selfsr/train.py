"""Training the per-scan 2D network on the scan's own in-plane slices (a cancellable generator)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import torch

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.inference import intensity_range
from napari_mrisr.engine.optim import adam
from napari_mrisr.engine.precision import autocast as reduced_precision
from napari_mrisr.models import build_model
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume

from .grid import SelfSRGrid
from .pairs import PairSampler

__all__ = ["BUDGETS", "PREVIEWS", "Budget", "BudgetName", "format_seconds", "iter_train", "network", "network_bytes"]


class BudgetName(StrEnum):
    """Named training budgets (each member equals its plain string)."""

    FAST = "fast"
    STANDARD = "standard"


@dataclass(frozen=True)
class Budget:
    """Network size and optimisation schedule of one self-SR training run.

    Attributes
    ----------
    features, num_blocks : int
        Width and depth of the 2D EDSR.
    patch : int
        HR patch edge (in-plane voxels).
    batch : int
        Patches per step.
    steps : int
        Optimiser steps (warm-up, then cosine decay over all of them).
    lr : float
        Peak learning rate (Adam).
    """

    features: int
    num_blocks: int
    patch: int
    batch: int
    steps: int
    lr: float


#: ``fast``: minutes on a laptop CPU (network runs at LR resolution, channels_last). Many small
#: steps at a high rate: per CPU-second, batches of 16 32-pixel patches at 8e-3 learn more than
#: fewer batches of 32 48-pixel patches at 1e-3 (docs/benchmarks.md, "The fast budget").
#: ``standard``: the prototype's 64 x 12 EDSR with more and larger patches, for a GPU.
BUDGETS = {
    BudgetName.FAST: Budget(features=32, num_blocks=6, patch=32, batch=16, steps=1200, lr=8e-3),
    BudgetName.STANDARD: Budget(
        features=64, num_blocks=12, patch=64, batch=32, steps=6000, lr=5e-4
    ),
}


#: How many live previews :func:`iter_train` makes over a run (when asked for them).
PREVIEWS = 20


def format_seconds(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = int(round(max(0.0, seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def network(grid: SelfSRGrid, budget: Budget) -> torch.nn.Module:
    """The per-scan network of this grid and budget (untrained)."""
    return build_model(
        "selfsr2d", grid.scale, features=budget.features, num_blocks=budget.num_blocks, input_skip=True
    )


def network_bytes(grid: SelfSRGrid, budget: Budget) -> int:
    """Bytes of the network's float32 weights (what its model file holds), counted on the meta
    device: nothing is allocated."""
    with torch.device("meta"):
        return sum(p.numel() * 4 for p in network(grid, budget).state_dict().values())


def resolve_budget(budget: str | Budget, steps: int | None = None) -> Budget:
    """A :class:`Budget` from a name or itself, optionally with another number of steps."""
    if not isinstance(budget, Budget):
        try:
            budget = BUDGETS[BudgetName(budget)]
        except ValueError:
            raise ValueError(
                f"Unknown budget {budget!r}; choose one of {', '.join(BudgetName)}."
            ) from None
    if steps is not None:
        if steps < 1:
            raise ValueError(f"Training steps must be >= 1, got {steps}.")
        budget = replace(budget, steps=int(steps))
    return budget


def iter_train(
    volume: Volume,
    grid: SelfSRGrid,
    budget: str | Budget = BudgetName.FAST,
    device: str | torch.device = "auto",
    seed: int = 0,
    steps: int | None = None,
    preview: Callable[[torch.nn.Module], Any] | None = None,
    amp: bool = True,
    after_steps: float = 0.0,
) -> ProgressGenerator[torch.nn.Module]:
    """Train a ``selfsr2d`` network on one scan, yielding progress, returning the model.

    Parameters
    ----------
    volume : Volume
        The anisotropic scan (its in-plane slices are the training data).
    grid : SelfSRGrid
        From :func:`~napari_mrisr.selfsr.grid.plan_grid`.
    budget : {"fast", "standard"} or Budget
    device : {"auto", "cpu", "cuda"} or torch.device
    seed : int
        Seeds the weights, the patch draws and the augmentations (deterministic per device).
    steps : int, optional
        Overrides the budget's number of steps.
    preview : callable, optional
        Called with the network :data:`PREVIEWS` times during training; what it returns is
        the event's ``preview`` (e.g. one plane super-resolved, for a live view).
    amp : bool
        The network's forward in bfloat16 autocast where the device computes it natively
        (:func:`napari_mrisr.engine.precision.autocast`); the loss and the output grid in float32.
    after_steps : float
        Work that follows training (applying the network), in training steps' worth of time:
        the ETA counts it, so a run shows one ETA for all of it (:func:`~.run.iter_selfsr`).

    Yields
    ------
    Progress
        ``done`` of ``total`` steps, with the loss and an ETA every few steps.

    Returns
    -------
    SelfSR2D
        The trained network in eval mode, on ``device``, with ``losses`` (per-step L1).
    """
    spec = resolve_budget(budget, steps)
    dev = pick_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    low, high = intensity_range(volume.data)
    normalised = (volume.data - low) / (high - low)
    sampler = PairSampler(
        normalised, grid, spec.patch, dev, rng, pool=min(spec.steps * spec.batch, 200_000)
    )
    model = network(grid, spec).to(dev)
    channels_last = dev.type == "cpu"  # oneDNN's fast layout for Conv2d on the CPU
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimiser = adam(model.parameters(), spec.lr)
    warm = max(1, spec.steps // 20)  # one-cycle shape: linear warm-up, then cosine to zero
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * s / spec.steps)),
    )
    model.train()
    precision = reduced_precision(dev, amp)  # one context, entered each step
    every = max(1, spec.steps // PREVIEWS)
    losses = torch.zeros(spec.steps, device=dev)  # read every 25 steps: no per-step GPU sync
    start = time.perf_counter()
    for step in range(1, spec.steps + 1):
        lr, hr = sampler.sample(spec.batch)
        if channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        with precision:
            output = model.net(lr).float()
        output = sampler.to_target_grid(output)
        loss = torch.nn.functional.l1_loss(output, hr)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses[step - 1] = loss.detach()
        message = ""
        if step % 25 == 0 or step == spec.steps:
            elapsed = time.perf_counter() - start
            eta = elapsed / step * (spec.steps - step + after_steps)
            message = (
                f"training step {step}/{spec.steps}, L1 {float(losses[max(0, step - 25) : step].mean()):.4f}, "
                f"ETA {format_seconds(eta)}"
            )
        shown = None
        if preview is not None and step % every == 0 and step < spec.steps:
            shown = preview(model)
        yield Progress(step, spec.steps, message, preview=shown)
    model.eval()
    model.losses = losses.tolist()
    return model
