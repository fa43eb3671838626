"""Training pairs from a scan's own in-plane slices degraded by its slice profile, on the device."""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import torch

from napari_mrisr.transfer import upload
from napari_mrisr.volume.geometry import covering_length
from napari_mrisr.volume.slice_profile import profile_matrix

from .grid import SelfSRGrid, resample_matrix

__all__ = ["PairSampler"]


class PairSampler:
    """Random (LR, HR) 2D patch pairs from the in-plane slices of one normalised scan.

    An HR patch is cut from an in-plane slice (centres drawn in proportion to the smoothed
    in-plane gradient magnitude plus a floor, so edges and foreground dominate), randomly
    flipped and transposed (so both in-plane axes serve as the degraded axis), and degraded
    along its first axis by the scan's slice profile (:func:`~napari_mrisr.volume.slice_profile.profile_matrix`,
    the simulator's forward model): LR input ``(B, 1, n_lr, S)``, HR target ``(B, 1, m, S)``.

    Parameters
    ----------
    data : numpy.ndarray
        The scan, normalised as inference normalises it.
    grid : SelfSRGrid
        Its geometry (through-plane axis, ratio, thickness, profile).
    patch : int
        HR patch edge in in-plane voxels (clipped to the slice size).
    device : torch.device
        Where the volume lives and pairs are made.
    rng : numpy.random.Generator
        Source of all randomness (deterministic with a seed).
    pool : int
        Patch centres drawn up front.
    """

    def __init__(
        self,
        data: np.ndarray,
        grid: SelfSRGrid,
        patch: int,
        device: torch.device,
        rng: np.random.Generator,
        pool: int = 100_000,
    ) -> None:
        slices = np.moveaxis(np.asarray(data, dtype=np.float32), grid.axis, 0)  # (T, P, Q)
        n_t, n_p, n_q = slices.shape
        r = grid.ratio
        self.size = min(patch, n_p, n_q)
        self.n_lr = int(np.floor(self.size / r + 1e-6))
        if self.n_lr < 2:
            raise ValueError(
                f"In-plane slices of {n_p} x {n_q} voxels are too small for a slice ratio "
                f"of {r:.3g}."
            )
        self.n_target = min(covering_length(self.n_lr, r), self.size)
        self.device = device
        self.rng = rng
        self.volume = torch.from_numpy(np.ascontiguousarray(slices)).to(device)
        thickness = grid.thickness / grid.in_plane_spacing
        degrade = profile_matrix(self.size, r, thickness, grid.profile, n_out=self.n_lr)
        self.degrade = torch.from_numpy(degrade).float().to(device)
        resample = resample_matrix(self.n_lr, grid.factor, r, self.n_target)
        identity = resample.shape[0] == resample.shape[1] and np.allclose(
            resample, np.eye(len(resample))
        )
        self.resample = None if identity else torch.from_numpy(resample).float().to(device)
        self.corners = self._draw_corners(slices, pool)
        self._next = 0

    def _draw_corners(self, slices: np.ndarray, pool: int) -> np.ndarray:
        """Patch corners ``(t, p, q)`` drawn in proportion to in-plane edge strength."""
        grad = np.hypot(*np.gradient(slices, axis=(1, 2)))
        weight = scipy.ndimage.gaussian_filter(grad, sigma=(0, 2, 2))
        weight += 0.05 * weight.mean() + 1e-12
        half = self.size // 2
        valid = np.zeros(slices.shape, dtype=bool)  # corners that keep the patch inside
        stop_p, stop_q = (n - self.size + half + 1 for n in slices.shape[1:])
        valid[:, half:stop_p, half:stop_q] = True
        weight = np.where(valid, weight, 0.0).ravel()
        flat = self.rng.choice(weight.size, size=pool, p=weight / weight.sum())
        centres = np.stack(np.unravel_index(flat, slices.shape), axis=1)
        centres[:, 1:] -= half
        return centres

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: LR ``(B, 1, n_lr, S)`` and HR target ``(B, 1, n_target, S)``."""
        if self._next + batch > len(self.corners):
            self.rng.shuffle(self.corners)
            self._next = 0
        corners = self.corners[self._next : self._next + batch]
        self._next += batch
        flips = self.rng.integers(0, 2, size=(batch, 3))
        # One gather for the whole batch (a per-patch loop costs a GPU launch per patch).
        start = upload(corners, self.device)[:, :, None, None]  # (B, 3, 1, 1)
        transpose, flip0, flip1 = upload(flips.astype(bool), self.device)[:, :, None, None].unbind(1)
        s = self.size
        i = torch.arange(s, device=self.device)
        rows = torch.where(flip0, s - 1 - i[:, None], i[:, None])  # (B, S, 1)
        cols = torch.where(flip1, s - 1 - i, i)  # (B, 1, S)
        rows, cols = torch.where(transpose, cols, rows), torch.where(transpose, rows, cols)
        _, n_p, n_q = self.volume.shape
        flat = (start[:, 0] * n_p + start[:, 1] + rows) * n_q + start[:, 2] + cols
        hr = self.volume.take(flat)[:, None]  # (B, 1, S, S)
        lr = torch.einsum("ij,bcjw->bciw", self.degrade, hr)
        return lr.contiguous(), hr[:, :, : self.n_target].contiguous()

    def to_target_grid(self, output: torch.Tensor) -> torch.Tensor:
        """Network output ``(B, 1, factor*n_lr, S)`` on the target's HR grid (cubic, real ratio)."""
        if self.resample is None:
            return output[:, :, : self.n_target]
        return torch.einsum("tu,bcuw->bctw", self.resample, output)
