"""One self-supervised SR run: train on the scan, apply to it, fuse; and its per-scan model file.

Chains :mod:`.train` (on pairs from :mod:`.pairs`) and :mod:`.apply` on the grid of
:mod:`.grid`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch

from napari_mrisr.atomic import byte_size
from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.precision import native_bf16
from napari_mrisr.engine.threads import ThreadTuner
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.io import available_bytes

from .apply import PlanePreview, SelfSRResult, iter_apply, plane_batches
from .grid import SelfSRGrid, plan_grid
from .train import Budget, BudgetName, format_seconds, iter_train, resolve_budget

__all__ = [
    "APPLY_BATCH",
    "APPLY_SHARE",
    "apply_steps",
    "check_output_memory",
    "iter_selfsr",
    "output_voxels",
    "save_selfsr_model",
]

#: Planes per forward pass when applying.
APPLY_BATCH = 16
#: Time of applying the network per output pixel, as a share of a training step's (forward,
#: backward and optimiser) per output pixel: a rounded-up estimate from CPU runs of the fast
#: budget (its small training patches cost more per pixel than applying's whole planes), used
#: for the ETA only until applying starts (then its measured rate takes over).
APPLY_SHARE = 0.4


def iter_selfsr(
    volume: Volume,
    budget: str | Budget = BudgetName.FAST,
    device: str | torch.device = "auto",
    seed: int = 0,
    spacing: float | None = None,
    thickness: float | None = None,
    profile: str = "rect",
    steps: int | None = None,
    preview_plane: Callable[[], tuple[int, int] | None] | None = None,
    amp: bool = True,
) -> ProgressGenerator[SelfSRResult]:
    """Train a network on the scan's own in-plane slices, then super-resolve its slice axis.

    Parameters
    ----------
    volume : Volume
        The anisotropic scan.
    budget : {"fast", "standard"} or Budget
        ``fast``: minutes on a laptop CPU; ``standard``: a larger network for a GPU.
    device : {"auto", "cpu", "cuda"}
    seed : int
        Makes the run deterministic (on a given device).
    spacing, thickness : float, optional
        Output spacing and slice thickness in mm (see :func:`~napari_mrisr.selfsr.grid.plan_grid`).
    profile : {"rect", "gaussian", "auto"}
        Slice profile; ``auto`` estimates it from the scan (see
        :func:`~napari_mrisr.selfsr.grid.plan_grid`; the result's ``grid.estimate`` says what
        was found).
    steps : int, optional
        Overrides the budget's training steps (a shorter smoke run).
    preview_plane : callable, optional
        Returns the plane to preview, ``(in-plane file axis, index)``, or None; asked a few
        times during training (see :data:`~napari_mrisr.selfsr.train.PREVIEWS`), so a viewer
        can follow the slice the user is looking at. The events then carry that plane
        super-resolved by the network so far (:class:`~napari_mrisr.selfsr.apply.PlanePreview`).
    amp : bool
        Train and apply the network in bfloat16 autocast where the device computes it natively
        (:func:`napari_mrisr.engine.precision.autocast`).

    Yields
    ------
    Progress
        Training steps then batches of planes, with messages carrying the loss and the ETA of
        the whole run: while training, the remaining steps and applying the network
        (:func:`apply_steps`), then the batches of planes left at their measured rate.

    Returns
    -------
    SelfSRResult
        The SR volume, the disagreement map, the grid and the trained model.
    """
    grid = plan_grid(volume, spacing=spacing, thickness=thickness, profile=profile)
    check_output_memory(volume, grid)
    spec = resolve_budget(budget, steps)
    applying = plane_batches(grid, volume.shape, APPLY_BATCH)
    total = spec.steps + applying
    start = time.perf_counter()
    preview = None
    if preview_plane is not None:
        planes = PlanePreview(volume, grid, device, amp)

        def preview(model):
            plane = preview_plane()
            return None if plane is None else planes(model, *plane)

    after = apply_steps(grid, volume.shape, spec)
    training = iter_train(
        volume, grid, spec, device=device, seed=seed, preview=preview, amp=amp, after_steps=after
    )
    # On a CPU, training re-picks the thread count as the machine's load changes (a step is
    # equal work); applying keeps the last pick; the count the run began with is restored.
    threads = ThreadTuner(active=pick_device(device).type == "cpu")
    try:
        try:
            while True:
                yield replace(next(training), total=total)
                threads.tick()
        except StopIteration as stop:
            model = stop.value
        finally:
            training.close()
        trained = time.perf_counter() - start
        applying_gen = iter_apply(volume, model, grid, device=device, batch=APPLY_BATCH, amp=amp)
        try:
            while True:
                event = next(applying_gen)
                if event.warning:
                    yield event
                    continue
                elapsed = time.perf_counter() - start - trained
                eta = elapsed / max(event.done, 1) * (applying - event.done)
                yield Progress(
                    spec.steps + event.done, total, f"super-resolving, ETA {format_seconds(eta)}"
                )
        except StopIteration as stop:
            result = stop.value
        finally:
            applying_gen.close()
    finally:
        threads.restore()
    result.model = model
    model.meta = {"selfsr": grid.to_meta(), "training": _training_meta(spec, seed, model, trained, amp)}
    return result


def apply_steps(grid: SelfSRGrid, shape: tuple[int, int, int], spec: Budget) -> float:
    """Applying the network to the scan (both orientations), in training steps' worth of time:
    its output pixels over those of a step, by :data:`APPLY_SHARE`. An estimate for the ETA
    shown while training; applying then reports its own, measured."""
    p, q = (shape[a] for a in range(3) if a != grid.axis)
    patch = min(spec.patch, p, q)
    return APPLY_SHARE * 2 * p * q * grid.n_out / (spec.batch * patch * patch)


#: float32 copies of the output the run holds at its peak: the two orientations, their fusion
#: and the disagreement map.
OUTPUT_COPIES = 4


def output_voxels(volume: Volume, grid: SelfSRGrid) -> int:
    """Voxels of the SR volume: the scan's, with ``grid.n_out`` planes along the slice axis."""
    return volume.data.size // grid.n_lr * grid.n_out


def check_output_memory(volume: Volume, grid: SelfSRGrid, available: int | None = None) -> None:
    """Refuse, before any training, an output grid this machine cannot hold (one sentence)."""
    voxels = output_voxels(volume, grid)
    needed = voxels * 4 * OUTPUT_COPIES
    available = available_bytes() if available is None else available
    if needed > available:
        raise VolumeError(
            f"Super-resolving {volume.name!r} to {grid.out_spacing:.3g} mm slices would make "
            f"{voxels:,} voxels ({byte_size(needed)} while it runs), more than the "
            f"{byte_size(available)} this machine can spare; choose a coarser output spacing."
        )


def _training_meta(spec, seed: int, model, seconds: float, amp: bool) -> dict:
    losses = getattr(model, "losses", [])
    tail = losses[-50:]
    return {
        "budget": asdict(spec),
        "seed": seed,
        "final_l1": sum(tail) / len(tail) if tail else None,
        "seconds": round(seconds, 1),
        "device": str(next(model.parameters()).device),
        "bf16": amp and native_bf16(next(model.parameters()).device),
    }


def save_selfsr_model(
    model: torch.nn.Module,
    grid: SelfSRGrid,
    path: str | os.PathLike,
    name: str | None = None,
    replace: bool = True,
) -> Path:
    """Save a per-scan network as a zoo model file (safetensors + metadata).

    The metadata records the scan's geometry, slice profile and ratio (``selfsr``) and the
    degradation it inverts, so ``zoo.load_model`` rebuilds it and ``mrisr predict`` (the tiled
    engine) applies it to other scans of the same protocol; for a fractional ratio the engine's
    grid is the network's ``ceil(ratio)``-fold one, while :func:`~napari_mrisr.selfsr.apply.iter_apply`
    resamples to the in-plane spacing.
    """
    from napari_mrisr.zoo.model_file import save_model

    path = Path(path)
    meta = dict(getattr(model, "meta", {}) or {})
    meta.update(
        name=name or path.stem,
        selfsr=grid.to_meta(),
        degradation={
            "method": "slice_profile",
            "profile": grid.profile,
            "axis": grid.axis,
            "spacing_mm": grid.lr_spacing,
            "thickness_mm": grid.thickness,
            "in_plane_spacing_mm": grid.in_plane_spacing,
            "ratio": grid.ratio,
        },
    )
    meta.pop("normalization", None)
    return save_model(model, path, meta, replace=replace)
