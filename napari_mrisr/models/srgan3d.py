"""3D SRGAN generator of the MIDL 2018 paper (imatge-upc/3D-GAN-superresolution)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from .base import SRModel
from .blocks import UPSAMPLERS, UpsampleStep, conv, conv_norm_act, make_upsampler

__all__ = ["SRGAN3D"]


class _ResidualBlock(nn.Module):
    """conv3-BN-LReLU-conv3-BN plus identity skip."""

    def __init__(self, spatial_dims: int, channels: int, act: tuple) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(spatial_dims, channels, channels, act=act),
            conv_norm_act(spatial_dims, channels, channels, act=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGAN3D(SRModel):
    """Generator of the 3D SRGAN of Sánchez & Vilaplana, MIDL 2018.

    Reference system: imatge-upc/3D-GAN-superresolution (TensorFlow). Head conv3 1->F, BN,
    LeakyReLU(0.25); ``num_blocks`` residual blocks [conv3-BN-LReLU-conv3-BN + skip]; conv3-BN
    and a long skip in the low-resolution feature space; upsampling steps; a linear output
    conv3 -> 1 channel. Convolutions are initialised from N(0, 0.02) as in the reference
    (ICNR kernels draw their base kernel from the same distribution).

    Parameters
    ----------
    scale : int or sequence of int
        Upsampling factor per spatial axis (an int means isotropic).
    features : int
        Feature channels F (reference default 32; README example 64).
    num_blocks : int
        Residual blocks (reference default 6; README example 8).
    upsampler : {"subpixel", "nearest", "icnr"}
        The reference's three options: sub-pixel conv, nearest-neighbour resize + conv, and
        checkerboard-free sub-pixel conv (ICNR init + blur).
    negative_slope : float
        LeakyReLU slope (0.25 in the reference).
    **base
        ``spatial_dims`` and ``input_skip`` (see :class:`~napari_mrisr.models.base.SRModel`).

    Notes
    -----
    Upsampling keeps F channels (conv F -> F*prod(step), shuffle back to F); the reference
    shuffled 64 channels down to 8 per x2 step. Factors are per axis (see
    :func:`~napari_mrisr.models.blocks.upsample_steps`), not only the reference's isotropic x2/x4.
    """

    architecture = "srgan3d"
    positive_ints = ("features", "num_blocks")

    def __init__(
        self,
        scale: int | Sequence[int],
        features: int = 32,
        num_blocks: int = 6,
        upsampler: str = "subpixel",
        negative_slope: float = 0.25,
        **base: Any,
    ) -> None:
        super().__init__(scale, **base)
        if upsampler not in UPSAMPLERS:
            raise ValueError(
                f"Unknown upsampler {upsampler!r}; choose one of {', '.join(UPSAMPLERS)}."
            )
        sd = self.spatial_dims
        act = ("leakyrelu", {"negative_slope": float(negative_slope)})
        self.head = conv_norm_act(sd, 1, features, act=act)
        self.body = nn.Sequential(*(_ResidualBlock(sd, features, act) for _ in range(num_blocks)))
        self.body_tail = conv_norm_act(sd, features, features, act=None)
        self.upsample, channels = make_upsampler(
            sd, features, features, self.scale, kind=upsampler, act=act
        )
        self.tail = conv(sd, channels, 1)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        normal = partial(nn.init.normal_, mean=0.0, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Conv3d):
                normal(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, UpsampleStep):
                module.reset_icnr(normal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        return self.tail(self.upsample(features))
