"""3D EDSR generator of the knee-MRI SR project (jamesgolden1/mri_super_resolution)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import SRModel, check_positive_int
from .blocks import conv, make_upsampler

__all__ = ["EDSR3D"]


class _ResidualBlock(nn.Module):
    """conv3-ReLU-conv3 without BN, scaled by ``res_scale`` before the skip (EDSR)."""

    def __init__(self, spatial_dims: int, channels: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(spatial_dims, channels, channels),
            nn.ReLU(inplace=True),
            conv(spatial_dims, channels, channels),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR3D(SRModel):
    """3D EDSR (Lim et al. 2017) as used for knee MRI by jamesgolden1/mri_super_resolution.

    Head conv3 1->F; ``num_blocks`` residual blocks [conv3-ReLU-conv3] without BN, scaled by
    ``res_scale``; conv3 and a long skip; sub-pixel upsampling (linear, as in EDSR); output
    conv3 -> 1 channel, linear.

    Parameters
    ----------
    scale : int or sequence of int
        Upsampling factor per spatial axis.
    spatial_dims : int
        2 or 3.
    input_skip : bool
        Add (tri/bi)linear upsampling of the input to the output, so the network learns
        the residual (see :class:`~napari_mrisr.models.base.SRModel`).
    features : int
        Feature channels (64 in the reference).
    num_blocks : int
        Residual blocks (9 in the reference).
    res_scale : float
        Residual scaling (EDSR's 0.1).

    Notes
    -----
    The reference ran at the HR matrix size on a blurred input; here the network takes the LR
    grid and upsamples at the end, like the other generators, which is ``prod(scale)`` times
    cheaper in the residual trunk.
    """

    architecture = "edsr3d"

    def __init__(
        self,
        scale: int | Sequence[int],
        spatial_dims: int = 3,
        input_skip: bool = False,
        features: int = 64,
        num_blocks: int = 9,
        res_scale: float = 0.1,
    ) -> None:
        super().__init__(scale, spatial_dims, input_skip)
        features = check_positive_int("features", features)
        num_blocks = check_positive_int("num_blocks", num_blocks)
        self._config.update(features=features, num_blocks=num_blocks, res_scale=float(res_scale))
        sd = self.spatial_dims
        self.head = conv(sd, 1, features)
        self.body = nn.Sequential(
            *(_ResidualBlock(sd, features, float(res_scale)) for _ in range(num_blocks))
        )
        self.body_tail = conv(sd, features, features)
        self.upsample, channels = make_upsampler(sd, features, features, self.scale, "subpixel")
        self.tail = conv(sd, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        return self.tail(self.upsample(features))
