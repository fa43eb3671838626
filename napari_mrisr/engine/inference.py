"""Tiled, cancellable 3D super-resolution: the engine the GUI, the CLI, training and benchmarks share.

:func:`iter_super_resolve` is a generator: it yields :class:`~napari_mrisr.progress.Progress`
events (one per tile, plus a warning on an out-of-memory retry) and returns the SR
:class:`~napari_mrisr.volume.base.Volume`. Cancelling is simply not iterating further (or calling
``.close()``): the output array is local to the generator, so nothing half-made is ever returned.
A ``cancel`` check stops a run inside a tile too: it is asked before every layer of the
network (forward pre-hooks, removed when the run ends), so one large tile no longer delays a
cancel by its whole duration; the run then raises :class:`~napari_mrisr.progress.Cancelled`.

Tiling is written here rather than with MONAI's ``sliding_window_inference`` because callers
need an event per tile, cancellation between tiles and an out-of-memory retry. Tiles are
stitched by overlap-tile cropping (U-Net style) rather than by blending: each tile is run with
a halo of ``overlap`` LR voxels and only its core is kept, so once the halo covers the
network's effective receptive field, tiled and whole-volume outputs agree without any seam.
Tile sizes come from a memory budget (:func:`napari_mrisr.engine.tiling.plan_tiles`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np
import torch

from napari_mrisr.models import is_channels_last, to_channels_last
from napari_mrisr.progress import Cancelled, Progress, ProgressGenerator, run_to_end
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.geometry import upsampled_affine
from napari_mrisr.volume.io import available_bytes

from .devices import pick_device
from .precision import autocast as reduced_precision
from .tiling import MAX_OVERLAP, MIN_CORE, TilePlan, auto_tile, plan_tiles, receptive_radius

__all__ = [
    "MAX_OVERLAP",
    "Progress",
    "TilePlan",
    "auto_tile",
    "iter_super_resolve",
    "plan_tiles",
    "receptive_radius",
    "super_resolve",
]


def super_resolve(volume: Volume, model, **kwargs) -> Volume:
    """Run :func:`iter_super_resolve` to the end and return the SR volume."""
    return run_to_end(iter_super_resolve(volume, model, **kwargs))


def iter_super_resolve(
    volume: Volume,
    model: torch.nn.Module | str | os.PathLike,
    device: str | torch.device = "auto",
    tile: int | Sequence[int] | None = None,
    overlap: int | None = None,
    amp: bool = True,
    cancel: Callable[[], bool] | None = None,
) -> ProgressGenerator[Volume]:
    """Super-resolve a volume tile by tile, yielding progress and returning the SR volume.

    The caller's model is left as it was found: when it must move to another device or
    memory layout the engine runs a copy, and its train/eval mode is restored at the end.
    No process-wide flag is changed (cuDNN autotuning is switched on around each forward only).

    Parameters
    ----------
    volume : Volume
        The low-resolution input.
    model : torch.nn.Module
        A generator from :func:`napari_mrisr.models.build_model` (with ``scale``), e.g. one a
        model file holds (:func:`napari_mrisr.zoo.load_model`).
    device : {"auto", "cuda", "mps", "cpu"} or torch.device
    tile : int or 3 ints, optional
        Tile core edge in LR voxels; default: the fewest voxels computed within the device's
        memory budget (:func:`~napari_mrisr.engine.tiling.plan_tiles`). On CUDA out-of-memory the
        tile is halved and the run restarts, with a warning :class:`Progress`.
    overlap : int, optional
        Halo in LR voxels around each tile, cropped away after the model runs. Default: the
        model's receptive radius (:func:`receptive_radius`), at most ``MAX_OVERLAP``.
    amp : bool
        Run in bfloat16 autocast where the device computes it natively (a CUDA GPU, float16
        where bf16 is unsupported; a CPU with AVX512-BF16 or AMX), as
        :func:`napari_mrisr.engine.precision.autocast` says; False runs float32 throughout.
    cancel : callable, optional
        Asked before each tile and before each layer of the network runs (a forward pre-hook
        on every submodule, removed at the end); once it returns True the run stops there and
        raises :class:`~napari_mrisr.progress.Cancelled`, yielding nothing more. A GUI passes
        its Cancel button's state, so a cancel takes effect within one layer of one tile.

    Yields
    ------
    Progress
        One per tile (``done`` of ``total``), and a warning on an out-of-memory retry.

    Returns
    -------
    Volume
        The SR volume on :func:`napari_mrisr.volume.geometry.upsampled_affine` of the input: an
        HR -> LR -> SR round trip lands on the HR grid. Intensities are in the input's range.

    Raises
    ------
    napari_mrisr.progress.Cancelled
        When ``cancel`` said so; the model is left as it was found.
    """
    scale = _model_scale(model)
    dev = pick_device(device)
    data = volume.data
    if not np.all(np.isfinite(data)):
        raise VolumeError(f"{volume.name!r} contains NaN or infinite voxels.")
    out_shape = tuple(n * s for n, s in zip(data.shape, scale, strict=True))
    out_bytes = int(np.prod(out_shape)) * 4
    if out_bytes > available_bytes():
        raise VolumeError(
            f"The SR volume of {volume.name!r} would need {out_bytes / 2**30:.1f} GiB; "
            "crop the input or use a model with a smaller scale."
        )

    meta = getattr(model, "meta", {})
    net = _runnable(model, dev)
    autocast = reduced_precision(dev, amp)
    # On a GPU the volume goes up once and is normalised, assembled and checked there; the
    # result comes back in one copy (into pinned memory on CUDA). On a CPU the same steps run
    # on tensors that share memory with numpy arrays.
    source = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(dev)
    low, high = intensity_range(source if dev.type != "cpu" else data, meta.get("normalization"))
    source = (source - low) / (high - low)
    was_training = net.training
    net.eval()  # before the probes of plan_tiles, which must not touch batch-norm statistics
    hooks = _cancel_hooks(net, cancel)
    try:
        with autocast:  # tiles sized for the activations in the precision they run in
            plan = plan_tiles(data.shape, net, dev, tile, overlap)
        while True:
            output = torch.empty(out_shape, dtype=torch.float32, device=dev)
            boxes = plan.boxes()
            yield Progress(0, len(boxes))  # the bar shows its length before the first tile
            try:
                for done, (inner, outer) in enumerate(boxes, start=1):
                    if cancel is not None and cancel():
                        raise _Stop
                    patch = source[outer][None, None]
                    if dev.type == "cpu":
                        patch = patch.contiguous(memory_format=torch.channels_last_3d)
                    with torch.inference_mode(), autocast, _cudnn_autotune(dev):
                        result = net(patch)
                    keep = tuple(
                        slice((i.start - o.start) * s, (i.stop - o.start) * s)
                        for i, o, s in zip(inner, outer, scale, strict=True)
                    )
                    target = tuple(slice(i.start * s, i.stop * s) for i, s in zip(inner, scale, strict=True))
                    output[target] = result[0, 0][keep]
                    del patch, result
                    yield Progress(done, len(boxes))
                break
            except torch.OutOfMemoryError:
                del output
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                if max(plan.core) <= MIN_CORE:
                    raise
                plan = plan.halved()
                yield Progress(0, 0, f"Out of GPU memory; retrying with {plan.core[0]}-voxel tiles.", warning=True)
    except _Stop:
        raise Cancelled(f"Super-resolving {volume.name!r} was cancelled.") from None
    finally:
        for hook in hooks:
            hook.remove()
        net.train(was_training)

    if not bool(torch.isfinite(output).all()):
        raise ValueError(
            "The model produced NaN or infinite values; its weights or settings are broken, "
            "so nothing was written."
        )
    output.mul_(high - low).add_(low)
    name = meta.get("name") or getattr(model, "architecture", "model")
    return Volume(_to_numpy(output), upsampled_affine(volume.affine, scale), f"{volume.name} SR {name}", dict(volume.header))


class _Stop(Exception):
    """Raised inside the network by the cancel check; the engine turns it into Cancelled."""


def _cancel_hooks(net: torch.nn.Module, cancel: Callable[[], bool] | None) -> list:
    """A forward pre-hook on every submodule that stops the forward once ``cancel()`` is True.

    Written by hand: torch has no way to interrupt a forward from another thread; a check
    before each layer bounds the wait by the slowest single layer of one tile.
    """
    if cancel is None:
        return []

    def check(_module, _inputs) -> None:
        if cancel():
            raise _Stop

    return [module.register_forward_pre_hook(check) for module in net.modules()]


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A float32 array of ``tensor``: shared on a CPU, one copy into pinned memory from CUDA."""
    if tensor.device.type == "cpu":
        return tensor.numpy()
    if tensor.device.type != "cuda":
        return tensor.cpu().numpy()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    torch.cuda.current_stream(tensor.device).synchronize()
    return host.numpy()


def intensity_range(data: np.ndarray | torch.Tensor, normalization: dict | None = None) -> tuple[float, float]:
    """The intensities mapped to 0 and 1 before the model (percentiles, as in training).

    ``data`` may be a tensor on a GPU (torch.quantile there, up to its 2**24-voxel limit; the
    same linear interpolation as numpy's percentile).
    """
    spec = normalization or {"kind": "percentile", "low": 0.5, "high": 99.5}
    if spec.get("kind") != "percentile":
        raise ValueError(f"Unknown intensity normalisation {spec!r}.")
    if isinstance(data, torch.Tensor) and data.numel() <= 2**24:
        q = torch.tensor([spec["low"] / 100, spec["high"] / 100], device=data.device)
        low, high = torch.quantile(data.reshape(-1), q).tolist()
    else:
        data = data.cpu().numpy() if isinstance(data, torch.Tensor) else data
        low, high = np.percentile(data, [spec["low"], spec["high"]])
    if high <= low:
        low, high = float(data.min()), float(data.max())
    if high <= low:
        high = low + 1.0  # a constant volume: any scale works
    return float(low), float(high)


def _model_scale(model: torch.nn.Module) -> tuple[int, int, int]:
    scale = getattr(model, "scale", None)
    if scale is None or len(tuple(scale)) != 3:
        raise ValueError("The model has no 3-axis 'scale'; build it with napari_mrisr.models.build_model.")
    return tuple(int(s) for s in scale)


def _same_device(a: torch.device, b: torch.device) -> bool:
    index = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return a.type == b.type and (a.index if a.index is not None else index) == (
        b.index if b.index is not None else index
    )


def _runnable(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model ready to run on ``device``: itself if it already is, else a prepared copy.

    A copy, so the caller's module (a training generator, say) keeps its device and layout.
    """
    params = list(model.parameters())
    here = all(_same_device(p.device, device) for p in params)
    if here and (device.type != "cpu" or is_channels_last(model)):
        return model
    net = copy.deepcopy(model).to(device)
    return to_channels_last(net) if device.type == "cpu" else net


def _cudnn_autotune(device: torch.device):
    """cuDNN autotuning (fastest kernels for repeated shapes) for one forward, then as before."""
    if device.type != "cuda":
        return nullcontext()
    b = torch.backends.cudnn
    return b.flags(enabled=b.enabled, benchmark=True, deterministic=b.deterministic, allow_tf32=b.allow_tf32)
