"""Tiles of the inference engine: their size from a memory budget, their halo and its cost.

A tile is a core written to the output plus a halo of ``overlap`` LR voxels read around it
(overlap-tile stitching, see :mod:`napari_mrisr.engine.inference`). :func:`plan_tiles` picks the
cores from a memory budget and the model's activation memory per voxel, measured once on a
small probe, so that few, large tiles run and the halo's share of the work
(:attr:`TilePlan.overhead`) stays small.
"""

from __future__ import annotations

import itertools
import json
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from napari_mrisr.volume.geometry import per_axis
from napari_mrisr.volume.io import available_bytes

__all__ = [
    "MAX_OVERLAP",
    "TilePlan",
    "activation_bytes",
    "auto_tile",
    "memory_budget",
    "plan_tiles",
    "receptive_radius",
]

#: Largest default halo (LR voxels per side): bounds the cost of very deep networks, whose
#: effective receptive field is far smaller than their theoretical one: at this halo the bundled
#: edsr3d 64 x 9 models (radius 23) differ from a whole-volume pass by far less than bf16's
#: rounding, at a smaller one by more (``benchmarks/halo.py`` prints both).
MAX_OVERLAP = 12
#: Memory for one tile's activations and the run's arrays (input, output) on a CPU or Apple
#: GPU: with the process itself (torch and a model) a run stays under 3 GB
#: (``benchmarks/inference.py --memory`` prints the peak).
CPU_BUDGET = int(1.75 * 2**30)
#: Resident memory per voxel (the slope of peak RSS over tile size, measured on a CPU) over
#: the probe's tensor peak (:func:`activation_bytes`), per architecture: 1.0 to 1.2 for edsr3d
#: and srgan3d, 1.3 for rrdb3d, 1.5 for dcsrn, whose concatenations oneDNN copies into
#: buffers of its own; :data:`MARGIN` for any other.
MARGINS = {"edsr3d": 1.2, "srgan3d": 1.2, "rrdb3d": 1.3, "dcsrn": 1.5}
MARGIN = 1.5
#: The same under a bfloat16 autocast, where the probe counts bf16 activations but some of the
#: run's tensors stay float32. Measured for edsr3d, the bundled x2 model on 2 CPU cores: a
#: resident slope of 1,081-1,169 B/voxel over the probe's 1,445 (in float32 1,848-2,229 over
#: 2,180), so 0.95 keeps float32's headroom. Other architectures keep their float32 margin.
BF16_MARGINS = {"edsr3d": 0.95}
#: Smallest tile core the planner picks (the out-of-memory retry stops there too).
MIN_CORE = 8


@dataclass(frozen=True)
class TilePlan:
    """Tiles of a volume: ``core`` voxels written per tile, ``overlap`` voxels of halo read."""

    shape: tuple[int, int, int]
    core: tuple[int, int, int]
    overlap: int

    def boxes(self) -> list[tuple[tuple[slice, ...], tuple[slice, ...]]]:
        """(inner, outer) slices per tile: the core written to the output, and core + halo read."""
        h = self.overlap
        per_axis = [
            [
                (slice(a, min(a + c, n)), slice(max(0, a - h), min(n, a + c + h)))
                for a in range(0, n, c)
            ]
            for n, c in zip(self.shape, self.core, strict=True)
        ]
        return [tuple(zip(*corner, strict=True)) for corner in itertools.product(*per_axis)]

    @property
    def overhead(self) -> float:
        """Voxels the model computes over voxels of output: 1 without halo, more with."""
        read = sum(math.prod(s.stop - s.start for s in outer) for _, outer in self.boxes())
        return read / math.prod(self.shape)

    def halved(self) -> TilePlan:
        """Cores half as large, at least :data:`MIN_CORE` (the out-of-memory retry)."""
        core = (min(n, max(MIN_CORE, c // 2)) for n, c in zip(self.shape, self.core, strict=True))
        return TilePlan(self.shape, tuple(core), self.overlap)


def plan_tiles(
    shape: Sequence[int],
    model: torch.nn.Module,
    device: torch.device,
    tile: int | Sequence[int] | None = None,
    overlap: int | None = None,
    budget: int | None = None,
) -> TilePlan:
    """Tiles for running ``model`` (in eval mode, on ``device``) on a volume of ``shape``.

    Parameters
    ----------
    shape : 3 ints
        The LR volume's shape.
    model : torch.nn.Module
        The network, already on ``device`` (and in the layout it will run in).
    device : torch.device
    tile : int or 3 ints, optional
        Core edge in LR voxels; default: the cores that compute the fewest voxels while one
        tile's activations (:func:`activation_bytes` times :data:`MARGINS`, or
        :data:`BF16_MARGINS` under a bf16 autocast) fit ``budget``.
    overlap : int, optional
        Halo in LR voxels; default :func:`receptive_radius`, at most :data:`MAX_OVERLAP`.
    budget : int, optional
        Bytes for one tile's activations; default :func:`memory_budget`, less the run's fp32
        arrays on a CPU (the input, its normalised copy and the output).
    """
    shape = tuple(int(n) for n in shape)
    if overlap is None:
        overlap = min(_probe(model)[0], MAX_OVERLAP)
    if tile is not None:
        core = tuple(min(t, n) for t, n in zip(per_axis(tile, "Tile"), shape, strict=True))
        return TilePlan(shape, core, overlap)
    if budget is None:
        held = math.prod(shape) * 4 * (2 + math.prod(getattr(model, "scale", (1,))))
        budget = memory_budget(device, held)
    architecture = getattr(model, "architecture", "")
    margin = MARGINS.get(architecture, MARGIN)
    if _autocast_dtype(device) == torch.bfloat16:
        margin = BF16_MARGINS.get(architecture, margin)
    max_voxels = budget / (margin * _probe(model)[1])
    return TilePlan(shape, _fewest_voxels(shape, overlap, max_voxels), overlap)


_PROBED: dict[str, tuple[int, float]] = {}


def _probe(model: torch.nn.Module) -> tuple[int, float]:
    """:func:`receptive_radius` and :func:`activation_bytes`, measured once per architecture,
    scale, configuration and autocast precision (they do not depend on the weights)."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        return receptive_radius(model), activation_bytes(model)
    precision = _autocast_dtype(next(model.parameters(), torch.empty(0)).device)
    key = json.dumps([model.architecture, list(model.scale), config, str(precision)], sort_keys=True, default=str)
    if key not in _PROBED:
        _PROBED[key] = receptive_radius(model), activation_bytes(model)
    return _PROBED[key]


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The dtype of the autocast active for ``device``'s type, or None."""
    if not torch.is_autocast_enabled(device.type):
        return None
    return torch.get_autocast_dtype(device.type)


def _axis_cuts(n: int, overlap: int) -> list[tuple[int, int, int]]:
    """Ways to cut one axis: (core, voxels read along it by all tiles, the longest read)."""
    cuts = {}
    for count in range(1, max(1, n // MIN_CORE) + 1):
        core = -(-n // count)
        reads = [min(n, a + core + overlap) - max(0, a - overlap) for a in range(0, n, core)]
        cuts.setdefault(core, (core, sum(reads), max(reads)))
    return list(cuts.values())


def _fewest_voxels(shape: tuple[int, ...], overlap: int, max_voxels: float) -> tuple[int, int, int]:
    """The cores whose tiles read the fewest voxels in all, each tile at most ``max_voxels``."""
    best, best_cost = None, None
    for cuts in itertools.product(*(_axis_cuts(n, overlap) for n in shape)):
        if math.prod(c[2] for c in cuts) > max_voxels:
            continue
        core = tuple(c[0] for c in cuts)
        tiles = math.prod(-(-n // k) for n, k in zip(shape, core, strict=True))
        cost = (math.prod(c[1] for c in cuts), tiles)  # fewest voxels, then fewest tiles
        if best_cost is None or cost < best_cost:
            best, best_cost = core, cost
    return best or tuple(min(MIN_CORE, n) for n in shape)


def memory_budget(device: torch.device, held: int = 0) -> int:
    """Bytes one tile's activations may take: half the free GPU memory on CUDA, else
    :data:`CPU_BUDGET` less the ``held`` bytes of the run's arrays (at least an eighth of it)
    and at most half the available memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return int(min(max(CPU_BUDGET - held, CPU_BUDGET // 8), available_bytes() / 2))


def auto_tile(device: torch.device) -> int:
    """A fixed cube tile edge per device (LR voxels), for callers that pick tiles themselves;
    the engine sizes tiles with :func:`plan_tiles`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 128 if free > 40 * 2**30 else 96 if free > 12 * 2**30 else 64
    return 64 if device.type == "mps" else 48


class _PeakTensorBytes(TorchDispatchMode):
    """The peak bytes of tensor storage alive at once while the mode is active.

    Written by hand (torch measures peaks only for CUDA's allocator): every op's outputs are
    counted once per storage, and released when the last tensor on that storage is freed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.live = self.peak = 0

    def _release(self, key: int) -> None:
        self.users[key] -= 1
        if not self.users[key]:
            del self.users[key]
            self.live -= self.sizes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key not in self.users:
                    self.users[key], self.sizes[key] = 0, storage.nbytes()
                    self.live += storage.nbytes()
                    self.peak = max(self.peak, self.live)
                self.users[key] += 1
                weakref.finalize(t, self._release, key)
        return out


def activation_bytes(model: torch.nn.Module, size: int = 8) -> float:
    """Peak activation memory of a forward pass per input voxel, on a cube of ``size`` voxels.

    Counts the tensors of the forward pass (input and output included) in the precision of the
    autocast around the call (bf16 activations take half the bytes), not the weights nor a
    library's internal buffers (see :data:`MARGINS`).
    """
    device = next(model.parameters(), torch.empty(0)).device
    layout = torch.channels_last_3d if device.type == "cpu" else torch.contiguous_format
    with torch.inference_mode(), _PeakTensorBytes() as tracker:
        model(torch.zeros(1, 1, size, size, size, device=device).contiguous(memory_format=layout))
    return tracker.peak / size**3


def receptive_radius(model: torch.nn.Module) -> int:
    """How far (LR voxels) an output voxel can see: the sum of every conv's half-width.

    Measured with hooks on a small forward pass, so a conv running after upsampling by ``s``
    counts ``1/s`` of its half-width. Exact for a chain of convolutions, an upper bound for
    networks with parallel branches; ``+ 1`` covers blurs and poolings that are not convs.
    """
    size = 8
    radius = [0.0]
    handles = []

    def hook(module, inputs, output):
        resolution = inputs[0].shape[-1] / size
        radius[0] += (module.kernel_size[-1] // 2) * module.dilation[-1] / resolution

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
            handles.append(module.register_forward_hook(hook))
    try:
        device = next(model.parameters(), torch.empty(0)).device
        # The probe's last axis must not be the slice axis of a slice-wise 2D model.
        probe = torch.zeros(1, 1, size, size, size, device=device)
        with torch.inference_mode():
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    return int(np.ceil(radius[0])) + 1
