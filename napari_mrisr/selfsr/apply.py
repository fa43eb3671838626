"""Applying a per-scan network: both through-plane orientations, fused, with their disagreement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import torch

from napari_mrisr.engine.devices import pick_device
from napari_mrisr.engine.inference import intensity_range
from napari_mrisr.engine.precision import autocast as reduced_precision
from napari_mrisr.progress import Progress, ProgressGenerator
from napari_mrisr.volume.base import Volume, VolumeError
from napari_mrisr.volume.clipping import clip_floor, clip_to_input

from .grid import SelfSRGrid, plan_grid, resample_matrix

__all__ = [
    "DISAGREEMENT_SIGMA",
    "PlanePreview",
    "SelfSRResult",
    "disagreement_map",
    "forward_planes",
    "iter_apply",
    "plane_batches",
]

#: Gaussian smoothing (output voxels) of the disagreement map's two factors: errors are
#: spatially coherent, so smoothed factors predict ``|SR - truth|`` better than raw ones.
DISAGREEMENT_SIGMA = 1.0


@dataclass
class SelfSRResult:
    """What self-supervised SR returns.

    Attributes
    ----------
    sr : Volume
        The fused (mean of two orientations) volume on the output grid.
    disagreement : Volume
        Where the SR is likely wrong (intensity units, same grid; :func:`disagreement_map`):
        the orientations' disagreement weighted by the detail along the slice axis; high where
        the network is unsure, a hallucination indicator.
    grid : SelfSRGrid
        The geometry used.
    model : torch.nn.Module or None
        The per-scan network (for :func:`~napari_mrisr.selfsr.run.save_selfsr_model`).
    clipped_below : float or None
        0.0 when ``sr``'s negatives were set to 0 (a scan without negative voxels:
        :mod:`~napari_mrisr.volume.clipping`), None when it was left unclipped.
    """

    sr: Volume
    disagreement: Volume
    grid: SelfSRGrid
    model: torch.nn.Module | None = None
    clipped_below: float | None = None


def plane_batches(grid: SelfSRGrid, shape: tuple[int, int, int], batch: int) -> int:
    """Forward passes :func:`iter_apply` makes (both orientations) for progress totals."""
    p, q = (shape[a] for a in range(3) if a != grid.axis)
    return -(-q // batch) + -(-p // batch)


def disagreement_map(
    first: np.ndarray, second: np.ndarray, sigma: float = DISAGREEMENT_SIGMA
) -> np.ndarray:
    """Where the SR is likely wrong, in intensity units (slice axis first, as the inputs).

    The geometric mean of the two orientations' half absolute difference (where the network
    is unsure) and of the fused volume's change along the slice axis (where there is detail to
    get wrong), each Gaussian-smoothed by ``sigma`` voxels. It predicts the error ``|SR - truth|``
    better than the plain difference of the orientations: ``benchmarks/selfsr.py`` prints their
    correlation ("corr").
    """
    unsure = 0.5 * np.abs(first - second)
    detail = np.abs(np.gradient(0.5 * (first + second), axis=0))
    if sigma > 0:
        unsure, detail = (scipy.ndimage.gaussian_filter(x, sigma) for x in (unsure, detail))
    return np.sqrt(unsure * detail)


def _prepare(volume: Volume, grid: SelfSRGrid, dev: torch.device, normalization=None):
    """The scan normalised as in training, slice axis first (T, P, Q); the intensity range; the
    resampling from the network's grid to the output grid, on ``dev``."""
    low, high = intensity_range(volume.data, normalization)
    slices = np.moveaxis((volume.data - low) / (high - low), grid.axis, 0)
    matrix = resample_matrix(grid.n_lr, grid.factor, grid.out_ratio, grid.n_out)
    return slices, (low, high), torch.from_numpy(matrix).float().to(dev)


def forward_planes(
    net: torch.nn.Module, planes: np.ndarray, resample: torch.Tensor, amp: bool = True
) -> np.ndarray:
    """SR of a batch of normalised through-plane planes, (B, T, W) -> (B, T', W).

    ``net`` upsamples T by the integer factor and ``resample`` (T', factor * T) takes that to
    the output grid (:func:`~napari_mrisr.selfsr.grid.resample_matrix`); with ``amp``, ``net``
    runs in bfloat16 autocast where the device computes it natively.
    """
    dev = resample.device
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))[:, None].to(dev)
    if dev.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        with reduced_precision(dev, amp):
            y = net(x).float()
        y = torch.einsum("tu,bcuw->bctw", resample, y)  # float32: the output grid's weights
    return y[:, 0].cpu().numpy()


class PlanePreview:
    """The SR of one through-plane plane of a scan, for a live view while the network trains.

    Normalises the scan once (as training does); each call runs the network on one plane, a
    few milliseconds, and returns it as a one-voxel-thick :class:`Volume` on the SR grid, at
    its place in the scan.
    """

    def __init__(
        self, volume: Volume, grid: SelfSRGrid, device: str | torch.device = "auto", amp: bool = True
    ) -> None:
        self.slices, (self.low, self.high), self.resample = _prepare(volume, grid, pick_device(device))
        self.grid, self.volume, self.amp = grid, volume, amp

    def __call__(self, model: torch.nn.Module, axis: int, index: int) -> Volume:
        """The plane at ``index`` along the in-plane file ``axis``, super-resolved by ``model``."""
        grid = self.grid
        if axis == grid.axis or not 0 <= axis < 3:
            raise ValueError(f"Axis {axis} is not an in-plane axis of this scan.")
        index = int(np.clip(index, 0, self.volume.shape[axis] - 1))
        # (T, P, Q): the plane at Q = index is slices[:, :, index]; at P = index, slices[:, index].
        in_plane = [a for a in range(3) if a != grid.axis]
        plane = self.slices[:, :, index] if axis == in_plane[1] else self.slices[:, index, :]
        was_training = model.training
        model.eval()
        try:
            sr = forward_planes(model.net, plane[None], self.resample, self.amp)[0]  # (T', W)
        finally:
            model.train(was_training)
        data = np.expand_dims(sr * (self.high - self.low) + self.low, 1 + in_plane.index(axis))
        data = np.moveaxis(data, 0, grid.axis)  # file axis order, one voxel along ``axis``
        shift = np.eye(4)
        shift[axis, 3] = index
        affine = grid.out_affine(self.volume.affine) @ shift
        return Volume(data.astype(np.float32), affine, f"{self.volume.name} SR preview")


def iter_apply(
    volume: Volume,
    model: torch.nn.Module,
    grid: SelfSRGrid | None = None,
    spacing: float | None = None,
    device: str | torch.device = "auto",
    batch: int = 16,
    amp: bool = True,
) -> ProgressGenerator[SelfSRResult]:
    """Super-resolve the through-plane axis of a scan with a ``selfsr2d`` network.

    Parameters
    ----------
    volume : Volume
        The anisotropic scan (the one trained on, or another of the same protocol).
    model : SelfSR2D
        From :func:`~napari_mrisr.selfsr.train.iter_train` or ``zoo.load_model``.
    grid : SelfSRGrid, optional
        Default: :func:`~napari_mrisr.selfsr.grid.plan_grid` of ``volume`` (with ``spacing``).
    spacing : float, optional
        Output spacing (mm) when ``grid`` is not given; default the in-plane spacing.
    device : {"auto", "cpu", "cuda"} or torch.device
    batch : int
        Planes per forward pass.
    amp : bool
        bfloat16 autocast where the device computes it natively (:func:`forward_planes`).

    Yields
    ------
    Progress
        One per batch of planes; a warning if the scan's ratio differs from the model's.

    Returns
    -------
    SelfSRResult
        Its ``sr`` without negative voxels when the scan has none
        (:func:`~napari_mrisr.volume.clipping.clip_to_input`).
    """
    if getattr(model, "architecture", None) != "selfsr2d":
        raise ValueError("This model is not a self-supervised SR (selfsr2d) model.")
    if grid is None:
        grid = plan_grid(volume, spacing=spacing)
    if not np.all(np.isfinite(volume.data)):
        raise VolumeError(f"{volume.name!r} contains NaN or infinite voxels.")
    if grid.axis != model.axis or grid.factor != model.scale[model.axis]:
        raise ValueError(
            f"{volume.name!r} has its slices along axis {grid.axis} at ratio {grid.ratio:.3g}, but "
            f"the model upsamples axis {model.axis} by {model.scale[model.axis]}."
        )
    trained = (getattr(model, "meta", {}).get("selfsr") or {}).get("ratio")
    if trained is not None and abs(trained - grid.ratio) > 0.05 * trained:
        yield Progress(0, 0, f"The model was trained for slice ratio {trained:.3g}, this scan "
                       f"has {grid.ratio:.3g}; results may be poor.", warning=True)  # fmt: skip
    dev = pick_device(device)
    normalization = getattr(model, "meta", {}).get("normalization")
    slices, (low, high), resample = _prepare(volume, grid, dev, normalization)
    net = model.net
    was_training, old_device = net.training, next(net.parameters()).device
    net.eval().to(dev)
    total = plane_batches(grid, volume.shape, batch)
    done = 0
    outputs = []
    try:
        # Orientation 1: planes (T, P) indexed by Q; orientation 2: planes (T, Q) indexed by P.
        for planes in (slices.transpose(2, 0, 1), slices.transpose(1, 0, 2)):
            out = np.empty((planes.shape[0], grid.n_out, planes.shape[2]), dtype=np.float32)
            for start in range(0, planes.shape[0], batch):
                out[start : start + batch] = forward_planes(net, planes[start : start + batch], resample, amp)
                done += 1
                yield Progress(done, total)
            outputs.append(out)
    finally:
        net.train(was_training).to(old_device)
    first = outputs[0].transpose(1, 2, 0)  # (Q, T', P) -> (T', P, Q)
    second = outputs[1].transpose(1, 0, 2)  # (P, T', Q) -> (T', P, Q)
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise ValueError("The model produced NaN or infinite values; its weights are broken.")
    fused = np.moveaxis(0.5 * (first + second), 0, grid.axis) * (high - low) + low
    disagreement = np.moveaxis(disagreement_map(first, second), 0, grid.axis) * (high - low)
    affine = grid.out_affine(volume.affine)
    name = volume.name
    sr = clip_to_input(Volume(fused, affine, f"{name} self-SR", dict(volume.header)), volume)
    return SelfSRResult(
        sr=sr,
        disagreement=Volume(disagreement, affine, f"{name} self-SR disagreement", dict(volume.header)),
        grid=grid,
        clipped_below=clip_floor(volume),
    )
