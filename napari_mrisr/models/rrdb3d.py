"""ESRGAN's RRDB generator in 3D, as in the 3-player GAN / DISGAN code (wqlevi)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import SRModel
from .blocks import conv, make_upsampler

__all__ = ["RRDB3D"]

_RESIDUAL_SCALE = 0.2  # ESRGAN's residual scaling inside and around the dense blocks


class _DenseBlock(nn.Module):
    """Five densely connected conv3 layers; the last maps back to ``channels`` (no BN)."""

    def __init__(self, spatial_dims: int, channels: int, growth: int, slope: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            conv(spatial_dims, channels + i * growth, growth if i < 4 else channels)
            for i in range(5)
        )
        self.act = nn.LeakyReLU(slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.convs[:-1]:
            features.append(self.act(layer(torch.cat(features, dim=1))))
        return x + _RESIDUAL_SCALE * self.convs[-1](torch.cat(features, dim=1))


class _RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a scaled skip."""

    def __init__(self, spatial_dims: int, channels: int, growth: int, slope: float) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(_DenseBlock(spatial_dims, channels, growth, slope) for _ in range(3))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _RESIDUAL_SCALE * self.blocks(x)


class RRDB3D(SRModel):
    """ESRGAN generator (Wang et al. 2018) in 3D, after the 3-player GAN / DISGAN (wqlevi).

    Head conv3 1->F; ``num_blocks`` RRDBs (3 dense blocks of 5 conv3, growth ``growth``,
    LeakyReLU, residual scale 0.2, no BN); conv3 and a long skip; sub-pixel upsampling steps
    with LeakyReLU; conv3 + LeakyReLU + conv3 -> 1 channel, linear.

    Parameters
    ----------
    scale : int or sequence of int
        Upsampling factor per spatial axis (the reference only did x2).
    features : int
        Feature channels (64 in the reference).
    growth : int
        Dense-block growth channels. The reference used 64 (about 16M parameters); we default
        to ESRGAN's original 32, which about halves the trunk's parameters and compute.
    num_blocks : int
        RRDBs (3 in the reference).
    negative_slope : float
        LeakyReLU slope. The reference code used 0.01 (PyTorch's default); we default to
        ESRGAN's 0.2, which the reference's discriminators also use.
    **base
        ``spatial_dims`` and ``input_skip`` (see :class:`~napari_mrisr.models.base.SRModel`).

    Notes
    -----
    The dense-block convolutions are initialised with Kaiming-normal weights scaled by 0.1,
    ESRGAN's initialisation for stable training of deep residual-in-residual trunks.
    """

    architecture = "rrdb3d"
    positive_ints = ("features", "growth", "num_blocks")

    def __init__(
        self,
        scale: int | Sequence[int],
        features: int = 64,
        growth: int = 32,
        num_blocks: int = 3,
        negative_slope: float = 0.2,
        **base: Any,
    ) -> None:
        super().__init__(scale, **base)
        slope = float(negative_slope)
        sd = self.spatial_dims
        act = ("leakyrelu", {"negative_slope": slope, "inplace": True})
        self.head = conv(sd, 1, features)
        self.body = nn.Sequential(*(_RRDB(sd, features, growth, slope) for _ in range(num_blocks)))
        self.body_tail = conv(sd, features, features)
        self.upsample, channels = make_upsampler(
            sd, features, features, self.scale, "subpixel", act
        )
        self.tail = nn.Sequential(
            conv(sd, channels, channels), nn.LeakyReLU(slope, inplace=True), conv(sd, channels, 1)
        )
        self._init_weights(slope)

    @torch.no_grad()
    def _init_weights(self, slope: float) -> None:
        for module in self.body.modules():
            if isinstance(module, nn.Conv2d | nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, a=slope, nonlinearity="leaky_relu")
                module.weight.mul_(0.1)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        return self.tail(self.upsample(features))
