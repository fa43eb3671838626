"""The per-scan self-supervised SR network: a 2D EDSR run on two orthogonal through-plane planes."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import SRModel
from .edsr3d import EDSR3D

__all__ = ["SelfSR2D"]


class SelfSR2D(SRModel):
    """2D EDSR upsampling one axis, applied to the planes of two orientations and averaged.

    The network of self-supervised SR (SMORE, Zhao et al. 2020; ECLARE, Remedios et al. 2025,
    implemented from their papers): a 2D EDSR with an interpolation skip, trained on the
    scan's own in-plane slices, super-resolves the through-plane axis of every plane that
    contains it, once for each of the two in-plane axes. The mean is the volume; their
    difference (:meth:`orientations`) is a hallucination indicator.

    Parameters
    ----------
    scale : sequence of 3 int
        One factor above 1 (the through-plane axis, ``ceil`` of the slice ratio), the others 1,
        e.g. ``(1, 1, 4)``.
    spatial_dims : int
        Must be 3 (volumes in, volumes out; the inner network is 2D).
    input_skip : bool
        The inner network learns the residual over bilinear upsampling.
    features, num_blocks : int
        Width and depth of the inner 2D EDSR.
    res_scale : float
        Residual scaling of the inner EDSR.

    Attributes
    ----------
    axis : int
        The through-plane (upsampled) spatial axis.
    net : EDSR3D
        The 2D network, mapping ``(N, 1, T, A)`` to ``(N, 1, k*T, A)``.
    """

    architecture = "selfsr2d"
    positive_ints = ("features", "num_blocks")

    def __init__(
        self,
        scale: int | Sequence[int],
        spatial_dims: int = 3,
        input_skip: bool = True,
        features: int = 32,
        num_blocks: int = 8,
        res_scale: float = 0.1,
    ) -> None:
        if spatial_dims != 3:
            raise ValueError(f"SelfSR2D is 3D: spatial_dims must be 3, got {spatial_dims!r}.")
        super().__init__(scale, spatial_dims, input_skip=False)
        up = [a for a, s in enumerate(self.scale) if s > 1]
        if len(up) != 1:
            raise ValueError(
                "selfsr2d upsamples exactly one axis (the through-plane axis), "
                f"got scale {self.scale}."
            )
        self.axis = up[0]
        self.input_skip = bool(input_skip)
        self.net = EDSR3D(
            (self.scale[self.axis], 1),
            spatial_dims=2,
            input_skip=self.input_skip,
            features=features,
            num_blocks=num_blocks,
            res_scale=res_scale,
        )

    def planes(self, x: torch.Tensor, along: int) -> torch.Tensor:
        """Super-resolve the planes spanned by the through-plane axis and spatial axis ``along``.

        ``x`` is ``(B, 1, D, H, W)``; every plane is one batch item of the 2D network.
        """
        t, a = 2 + self.axis, 2 + along
        other = next(d for d in (2, 3, 4) if d not in (t, a))
        order = (0, other, 1, t, a)
        moved = x.permute(order)
        batch, n = moved.shape[:2]
        out = self.net(moved.reshape(batch * n, *moved.shape[2:]))
        out = out.reshape(batch, n, *out.shape[1:])
        inverse = sorted(range(5), key=order.__getitem__)
        return out.permute(inverse)

    def orientations(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two orientations' outputs (in-plane axis ``p < q``), each ``(B, 1, ...scaled)``."""
        p, q = (a for a in range(3) if a != self.axis)
        return self.planes(x, p), self.planes(x, q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = self.orientations(x)
        return 0.5 * (first + second)
