"""3D EDSR generator of the knee-MRI SR project (jamesgolden1/mri_super_resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import SRModel
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
    features : int
        Feature channels (64 in the reference).
    num_blocks : int
        Residual blocks (9 in the reference).
    res_scale : float
        Residual scaling (EDSR's 0.1).
    **base
        ``spatial_dims`` and ``input_skip`` (see :class:`~napari_mrisr.models.base.SRModel`).

    Notes
    -----
    The reference ran at the HR matrix size on a blurred input; here the network takes the LR
    grid and upsamples at the end, like the other generators, which is ``prod(scale)`` times
    cheaper in the residual trunk.
    """

    architecture = "edsr3d"
    positive_ints = ("features", "num_blocks")

    def __init__(
        self,
        scale: int | Sequence[int],
        features: int = 64,
        num_blocks: int = 9,
        res_scale: float = 0.1,
        **base: Any,
    ) -> None:
        super().__init__(scale, **base)
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
