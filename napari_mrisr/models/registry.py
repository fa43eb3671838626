"""Look up a generator by name and build it with a per-axis scale."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .base import SRModel, parse_scale
from .dcsrn import DCSRN
from .edsr3d import EDSR3D
from .rrdb3d import RRDB3D
from .srgan2d import build_srgan2d
from .srgan3d import SRGAN3D

__all__ = ["build_model", "list_architectures"]

_BUILDERS: dict[str, Callable[..., SRModel]] = {
    "dcsrn": DCSRN,
    "edsr3d": EDSR3D,
    "rrdb3d": RRDB3D,
    "srgan2d": build_srgan2d,
    "srgan3d": SRGAN3D,
}


def list_architectures() -> list[str]:
    """Names accepted by :func:`build_model`, sorted."""
    return sorted(_BUILDERS)


def build_model(name: str, scale: int | Sequence[int], **kwargs: Any) -> torch.nn.Module:
    """Build a super-resolution generator.

    Parameters
    ----------
    name : str
        One of :func:`list_architectures`: ``dcsrn``, ``edsr3d``, ``rrdb3d``, ``srgan2d``,
        ``srgan3d``.
    scale : int or sequence of 3 int
        Upsampling factor per spatial axis ``(s0, s1, s2)``; an int means isotropic. With
        ``spatial_dims=2`` in ``kwargs``, two factors.
    **kwargs
        Architecture options (see each class); ``model.config`` lists them all.

    Returns
    -------
    torch.nn.Module
        A float32 model mapping ``(B, 1, D, H, W)`` to ``(B, 1, D*s0, H*s1, W*s2)``, with
        attributes ``scale``, ``architecture`` and ``config`` such that
        ``build_model(model.architecture, model.scale, **model.config)`` rebuilds it.

    Raises
    ------
    ValueError
        For an unknown name, a bad scale, an unknown option or a bad option value.
    """
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown architecture {name!r}; known architectures are "
            f"{', '.join(list_architectures())}."
        )
    builder = _BUILDERS[name]
    accepted = [p for p in inspect.signature(builder).parameters if p != "scale"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for architecture {name!r}; "
            f"accepted options are {', '.join(accepted)}."
        )
    spatial_dims = kwargs.get("spatial_dims", 3)
    parse_scale(scale, spatial_dims if spatial_dims in (2, 3) else 3)
    return builder(scale, **kwargs).float()
