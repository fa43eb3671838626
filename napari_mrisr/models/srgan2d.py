"""2D SRGAN generator for brain-tumour MRI (alexxmartinezz, Keras), and its slice-by-slice use."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import SRModel
from .blocks import conv, conv_norm_act, make_upsampler

__all__ = ["SRGAN2DGenerator", "SliceWiseSRGAN2D", "build_srgan2d"]


class _ResidualBlock(nn.Module):
    """conv3-ReLU-BN-conv3-BN plus identity skip (the reference's order: ReLU before BN)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(2, channels, channels, act="relu", norm=None),
            nn.BatchNorm2d(channels),
            conv_norm_act(2, channels, channels, act=None, norm="batch"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGAN2DGenerator(SRModel):
    """2D SRGAN generator (Ledig et al. 2017) as in the brain-tumour MRI Keras notebook.

    Head conv9x9 1->F + ReLU; ``num_blocks`` residual blocks [conv3-ReLU-BN-conv3-BN + add];
    conv3-BN and a long skip; upsampling steps of [nearest x s, conv3 -> ``upsample_features``,
    ReLU]; output conv9x9 -> 1 channel, linear. Maps ``(B, 1, H, W)`` to
    ``(B, 1, H*s0, W*s1)``.

    Parameters
    ----------
    scale : int or sequence of 2 int
        In-plane upsampling factors (the reference: 4 as two x2 steps).
    features : int
        Trunk channels (64 in the reference).
    num_blocks : int
        Residual blocks (3 in the reference).
    upsample_features : int
        Channels of the upsampling convolutions (256 in the reference).
    **base
        ``input_skip`` (see :class:`~napari_mrisr.models.base.SRModel`); ``spatial_dims`` is 2.
    """

    architecture = "srgan2d"
    positive_ints = ("features", "num_blocks", "upsample_features")

    def __init__(
        self,
        scale: int | Sequence[int],
        features: int = 64,
        num_blocks: int = 3,
        upsample_features: int = 256,
        **base: Any,
    ) -> None:
        if base.setdefault("spatial_dims", 2) != 2:
            raise ValueError(
                f"SRGAN2DGenerator is 2D: spatial_dims must be 2, got {base['spatial_dims']!r}."
            )
        super().__init__(scale, **base)
        self.head = conv_norm_act(2, 1, features, act="relu", norm=None, kernel_size=9)
        self.body = nn.Sequential(*(_ResidualBlock(features) for _ in range(num_blocks)))
        self.body_tail = conv_norm_act(2, features, features, act=None, norm="batch")
        self.upsample, channels = make_upsampler(
            2, features, upsample_features, self.scale, "nearest", "relu"
        )
        self.tail = conv(2, channels, 1, kernel_size=9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        return self.tail(self.upsample(features))


class SliceWiseSRGAN2D(SRModel):
    """The 2D SRGAN generator applied to every slice of a volume along the axis not upsampled.

    Maps ``(B, 1, D, H, W)`` to ``(B, 1, D*s0, H*s1, W*s2)``; at least one factor must be 1 and
    the first such axis is the slice axis. All slices go through the generator as one batch.

    Parameters
    ----------
    scale : sequence of 3 int
        Per-axis factors with at least one 1, e.g. ``(2, 2, 1)`` (slices along axis 2) or
        ``(1, 1, 4)`` (slices along axis 0, x4 along axis 2 in-plane).
    **options
        As :class:`SRGAN2DGenerator`'s (``input_skip``, ``features``, ``num_blocks``,
        ``upsample_features``); ``spatial_dims`` is 3.

    Attributes
    ----------
    slice_axis : int
        The spatial axis (0, 1 or 2) that is sliced.
    generator : SRGAN2DGenerator
        The 2D generator with the two in-plane factors.
    """

    architecture = "srgan2d"

    def __init__(self, scale: int | Sequence[int], **options: Any) -> None:
        spatial_dims = options.pop("spatial_dims", 3)
        if spatial_dims != 3:
            raise ValueError(f"SliceWiseSRGAN2D is 3D: spatial_dims must be 3, got {spatial_dims!r}.")
        super().__init__(scale, spatial_dims, options.pop("input_skip", False))
        if 1 not in self.scale or all(s == 1 for s in self.scale):
            raise ValueError(
                "srgan2d super-resolves slice by slice, so one axis of the scale must "
                f"be 1 (the slice axis) and another above 1, got {self.scale}."
            )
        self.slice_axis = self.scale.index(1)
        in_plane = tuple(s for a, s in enumerate(self.scale) if a != self.slice_axis)
        self.generator = SRGAN2DGenerator(in_plane, **options)
        self._config.update(self.generator.config)  # its defaults too; spatial_dims is ours

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = 2 + self.slice_axis
        batch, channels, n = x.shape[0], x.shape[1], x.shape[dim]
        # (B, C, ..slice..) -> (B*N, C, p, q): the slices become one batch.
        slices = x.movedim(dim, 1).reshape(batch * n, channels, *_in_plane(x.shape, dim))
        out = self.generator(slices)
        out = out.reshape(batch, n, *out.shape[1:])
        return out.movedim(1, dim)


def _in_plane(shape: torch.Size, dim: int) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(shape) if i >= 2 and i != dim)


def build_srgan2d(scale: int | Sequence[int], **options: Any) -> SRModel:
    """Build the ``srgan2d`` model: slice-wise for volumes, the raw generator when 2D.

    ``spatial_dims=3`` (the default) gives :class:`SliceWiseSRGAN2D`; ``spatial_dims=2`` gives
    :class:`SRGAN2DGenerator`. Both record ``spatial_dims`` in their ``config``.
    """
    cls = SRGAN2DGenerator if options.get("spatial_dims") == 2 else SliceWiseSRGAN2D
    return cls(scale, **options)


# build_model lists and checks a builder's options from its signature: the generator's.
build_srgan2d.__signature__ = inspect.signature(SRGAN2DGenerator)
