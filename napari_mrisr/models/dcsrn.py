"""mDCSRN: the multi-level densely connected SR network of Chen et al. (MICCAI 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import SRModel
from .blocks import conv, make_upsampler

__all__ = ["DCSRN"]


class _DenseBlock(nn.Module):
    """``layers`` units of [ELU, conv3 -> growth], each fed all earlier maps; BN-free."""

    def __init__(self, spatial_dims: int, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.units = nn.ModuleList(
            nn.Sequential(nn.ELU(), conv(spatial_dims, channels + i * growth, growth))
            for i in range(layers)
        )
        self.out_channels = channels + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for unit in self.units:
            features.append(unit(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class DCSRN(SRModel):
    """mDCSRN generator (Chen et al., "Efficient and accurate MRI super-resolution using a
    generative adversarial network and 3D multi-level densely connected network", MICCAI 2018).

    An initial conv3 1->2k; ``num_blocks`` BN-free dense blocks of ``layers_per_block`` units
    [ELU, conv3 -> k]; before every block after the first a 1x1x1 compressor maps the
    concatenated outputs of the initial conv and of all earlier blocks to 2k channels
    (multi-level dense connections); a final 1x1x1 fusion of the initial conv and all block
    outputs; sub-pixel upsampling with ELU; output conv3 -> 1 channel, linear.

    Parameters
    ----------
    scale : int or sequence of int
        Upsampling factor per spatial axis.
    growth : int
        Growth rate k (16 in the paper).
    num_blocks : int
        Dense blocks (4 in the paper).
    layers_per_block : int
        Units per dense block (4 in the paper).
    **base
        ``spatial_dims`` and ``input_skip`` (see :class:`~napari_mrisr.models.base.SRModel`).

    Notes
    -----
    mDCSRN works on an input already interpolated to the HR matrix. Here it takes the LR grid
    and upsamples at the end like the other generators: ``prod(scale)`` times cheaper, and the
    same interface for the inference engine. No public code exists; this follows the paper.
    """

    architecture = "dcsrn"
    positive_ints = ("growth", "num_blocks", "layers_per_block")

    def __init__(
        self,
        scale: int | Sequence[int],
        growth: int = 16,
        num_blocks: int = 4,
        layers_per_block: int = 4,
        **base: Any,
    ) -> None:
        super().__init__(scale, **base)
        sd = self.spatial_dims
        width = 2 * growth
        self.head = conv(sd, 1, width)
        self.blocks = nn.ModuleList()
        self.compressors = nn.ModuleList()
        levels = width  # channels of everything that a compressor or the fusion concatenates
        for b in range(num_blocks):
            if b > 0:
                self.compressors.append(conv(sd, levels, width, kernel_size=1))
            block = _DenseBlock(sd, width, growth, layers_per_block)
            self.blocks.append(block)
            levels += block.out_channels
        self.fusion = conv(sd, levels, width, kernel_size=1)
        self.upsample, channels = make_upsampler(sd, width, width, self.scale, "subpixel", "elu")
        self.tail = conv(sd, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = [self.head(x)]
        features = levels[0]
        for b, block in enumerate(self.blocks):
            if b > 0:
                features = self.compressors[b - 1](torch.cat(levels, dim=1))
            levels.append(block(features))
        return self.tail(self.upsample(self.fusion(torch.cat(levels, dim=1))))
