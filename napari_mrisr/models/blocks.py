"""Building blocks shared by the generators, parameterised by ``spatial_dims`` like MONAI's.

Convolutions, normalisation and activations come from MONAI's factories. The upsamplers are
written here because MONAI's ``SubpixelUpsample``, ``pixelshuffle`` and ``icnr_init`` take a
single isotropic factor, while MRI needs per-axis factors such as ``(1, 1, 4)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers import Conv
from monai.networks.layers.utils import get_act_layer
from torch import nn

__all__ = [
    "UPSAMPLERS",
    "BoxBlur",
    "PixelShuffle",
    "UpsampleStep",
    "conv",
    "conv_norm_act",
    "icnr_init_",
    "make_upsampler",
    "pixel_shuffle",
    "upsample_steps",
]

UPSAMPLERS = ("icnr", "nearest", "subpixel")

ActSpec = str | tuple | None


def conv(
    spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True
) -> nn.Module:
    """A stride-1 convolution with 'same' zero padding (odd ``kernel_size``)."""
    return Conv[Conv.CONV, spatial_dims](
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias
    )


def conv_norm_act(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    act: ActSpec = None,
    norm: str | None = "batch",
    kernel_size: int = 3,
) -> Convolution:
    """MONAI ``Convolution`` block: conv, then norm, then activation (either may be ``None``)."""
    return Convolution(
        spatial_dims,
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        act=act,
        norm=norm,
        adn_ordering="NA",
        bias=norm is None,  # a bias right before a normalisation is redundant
    )


def upsample_steps(scale: Sequence[int]) -> list[tuple[int, ...]]:
    """Split per-axis factors into upsampling steps.

    Along each axis, take a factor 2 while the remaining factor is even, then the remaining
    odd factor in one step; axes that are done use 1.

    Examples
    --------
    >>> upsample_steps((2, 2, 4))
    [(2, 2, 2), (1, 1, 2)]
    >>> upsample_steps((3, 2, 1))
    [(3, 2, 1)]
    """
    per_axis: list[list[int]] = []
    for factor in scale:
        parts, rest = [], int(factor)
        while rest > 1:
            step = 2 if rest % 2 == 0 else rest
            parts.append(step)
            rest //= step
        per_axis.append(parts)
    n = max((len(p) for p in per_axis), default=0)
    return [tuple(p[i] if i < len(p) else 1 for p in per_axis) for i in range(n)]


def pixel_shuffle(x: torch.Tensor, factors: Sequence[int]) -> torch.Tensor:
    """N-D pixel shuffle with one factor per spatial axis.

    Output voxel ``(d*s0 + i, h*s1 + j, w*s2 + k)`` of channel ``c`` comes from input channel
    ``c*s0*s1*s2 + i*s1*s2 + j*s2 + k`` at ``(d, h, w)`` (the same order as
    ``torch.nn.PixelShuffle`` and MONAI's ``pixelshuffle``, which only take one factor).

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C*prod(factors), *spatial)``.
    factors : sequence of int
        One factor per spatial axis.

    Returns
    -------
    torch.Tensor
        ``(B, C, *(n * s for n, s in zip(spatial, factors)))``.
    """
    factors = tuple(int(f) for f in factors)
    dims = len(factors)
    batch, channels, *spatial = x.shape
    if len(spatial) != dims:
        raise ValueError(f"Expected {dims} spatial axes, got input of shape {tuple(x.shape)}.")
    block = math.prod(factors)
    if channels % block:
        raise ValueError(f"{channels} channels cannot be shuffled by factors {factors}.")
    out_channels = channels // block
    x = x.reshape(batch, out_channels, *factors, *spatial)
    # (B, C, s0.., n0..) -> (B, C, n0, s0, n1, s1, ...)
    order = [0, 1] + [i for d in range(dims) for i in (2 + dims + d, 2 + d)]
    x = x.permute(order)
    return x.reshape(batch, out_channels, *(n * s for n, s in zip(spatial, factors, strict=True)))


class PixelShuffle(nn.Module):
    """Module form of :func:`pixel_shuffle`."""

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle(x, self.factors)

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


@torch.no_grad()
def icnr_init_(
    conv_layer: nn.Module,
    factors: Sequence[int],
    init: Callable[[torch.Tensor], object] = nn.init.kaiming_normal_,
) -> None:
    """ICNR initialisation (Aitken et al. 2017) for a sub-pixel conv with per-axis factors.

    Draws a kernel for ``C = out_channels / prod(factors)`` outputs and repeats each output
    kernel ``prod(factors)`` times, in the channel order :func:`pixel_shuffle` reads, so the
    shuffled output equals nearest-neighbour upsampling of a conv output right after init
    (no checkerboard). The bias, if any, is replicated the same way.
    """
    block = math.prod(int(f) for f in factors)
    weight = conv_layer.weight
    if weight.shape[0] % block:
        raise ValueError(f"{weight.shape[0]} output channels do not divide by {block}.")
    base = torch.empty(weight.shape[0] // block, *weight.shape[1:], dtype=weight.dtype)
    init(base)
    weight.copy_(base.repeat_interleave(block, dim=0))
    if conv_layer.bias is not None:
        conv_layer.bias.copy_(conv_layer.bias[::block].repeat_interleave(block))


class BoxBlur(nn.Module):
    """Average over a window of ``s`` voxels along each axis with ``s > 1``, size kept.

    Replicate padding: ``s // 2`` before and ``(s - 1) // 2`` after, as fastai's
    ``PixelShuffle_ICNR`` blur (Sugawara et al. 2019) does for ``s = 2``.
    """

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        self._pads = [p for s in reversed(self.factors) for p in (s // 2, (s - 1) // 2)]
        self._pool = (F.avg_pool2d, F.avg_pool3d)[len(self.factors) - 2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if all(s == 1 for s in self.factors):
            return x
        x = F.pad(x, self._pads, mode="replicate")
        return self._pool(x, kernel_size=self.factors, stride=1)

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


class UpsampleStep(nn.Module):
    """One upsampling step with per-axis factors.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    in_channels, out_channels : int
        Channels before and after the step.
    factors : sequence of int
        One factor per spatial axis.
    kind : {"nearest", "subpixel", "icnr"}
        ``nearest``: nearest-neighbour resize, conv, activation (resize-convolution, the
        MIDL 2018 3D SRGAN's option b). ``subpixel``: conv to ``out_channels * prod(factors)``,
        pixel shuffle, activation. ``icnr``: ``subpixel`` with an ICNR-initialised conv, then a
        :class:`BoxBlur` (checkerboard-free sub-pixel convolution, Aitken et al. 2017).
    act : str or tuple, optional
        MONAI activation spec applied after the step; ``None`` for a linear step.
    kernel_size : int
        Conv kernel size.

    Attributes
    ----------
    resize, conv, shuffle, act, blur : nn.Module
        Applied in this order (unused ones are ``nn.Identity``).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        factors: Sequence[int],
        kind: str = "subpixel",
        act: ActSpec = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if kind not in UPSAMPLERS:
            raise ValueError(f"Unknown upsampler {kind!r}; choose one of {', '.join(UPSAMPLERS)}.")
        self.kind = kind
        self.factors = tuple(int(f) for f in factors)
        if kind == "nearest":
            self.resize: nn.Module = nn.Upsample(
                scale_factor=tuple(float(f) for f in self.factors), mode="nearest"
            )
            self.conv = conv(spatial_dims, in_channels, out_channels, kernel_size)
            self.shuffle: nn.Module = nn.Identity()
        else:
            self.resize = nn.Identity()
            block = math.prod(self.factors)
            self.conv = conv(spatial_dims, in_channels, out_channels * block, kernel_size)
            self.shuffle = PixelShuffle(self.factors)
        self.act = get_act_layer(act) if act is not None else nn.Identity()
        self.blur = BoxBlur(self.factors) if kind == "icnr" else nn.Identity()
        if kind == "icnr":
            self.reset_icnr()

    def reset_icnr(
        self, init: Callable[[torch.Tensor], object] = nn.init.kaiming_normal_
    ) -> None:
        """Re-draw the ICNR kernel with ``init`` (no-op unless ``kind == "icnr"``)."""
        if self.kind == "icnr":
            icnr_init_(self.conv, self.factors, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.act(self.shuffle(self.conv(self.resize(x)))))


def make_upsampler(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    scale: Sequence[int],
    kind: str = "subpixel",
    act: ActSpec = None,
) -> tuple[nn.Sequential, int]:
    """Chain of :class:`UpsampleStep` for ``scale`` (see :func:`upsample_steps`).

    Returns
    -------
    upsampler : nn.Sequential
        Empty (identity) when every factor is 1.
    channels : int
        Channels of its output: ``out_channels``, or ``in_channels`` without any step.
    """
    steps = nn.Sequential()
    channels = in_channels
    for factors in upsample_steps(scale):
        steps.append(UpsampleStep(spatial_dims, channels, out_channels, factors, kind, act))
        channels = out_channels
    return steps, channels
