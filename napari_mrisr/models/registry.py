"""Look up a generator by name and build it with a per-axis scale."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import torch
from monai.utils import look_up_option

from .base import SRModel, parse_scale
from .dcsrn import DCSRN
from .edsr3d import EDSR3D
from .rrdb3d import RRDB3D
from .selfsr2d import SelfSR2D
from .srgan2d import build_srgan2d
from .srgan3d import SRGAN3D

__all__ = ["Architecture", "build_model", "list_architectures"]


class Architecture(StrEnum):
    """The generators :func:`build_model` builds, in alphabetical order (members equal their
    plain strings, which name them in configs and model files)."""

    DCSRN = "dcsrn"
    EDSR3D = "edsr3d"
    RRDB3D = "rrdb3d"
    SRGAN2D = "srgan2d"
    SRGAN3D = "srgan3d"


_BUILDERS: dict[Architecture, Callable[..., SRModel]] = {
    Architecture.DCSRN: DCSRN,
    Architecture.EDSR3D: EDSR3D,
    Architecture.RRDB3D: RRDB3D,
    Architecture.SRGAN2D: build_srgan2d,
    Architecture.SRGAN3D: SRGAN3D,
}


#: Networks trained on one scan by their own pipeline (napari_mrisr.selfsr), not from a data set:
#: build_model and zoo.load_model build them from model files, but they are no Architecture
#: (the training config and the tests of trainable generators do not offer them).
PER_SCAN_BUILDERS: dict[str, Callable[..., SRModel]] = {"selfsr2d": SelfSR2D}


def options_of(builder: Callable[..., SRModel]) -> list[str]:
    """The keyword options a builder takes: its own, and :class:`SRModel`'s where it passes
    them on (``**base``)."""
    params = inspect.signature(builder).parameters
    own = [n for n, p in params.items() if n != "scale" and p.kind is not p.VAR_KEYWORD]
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        own += [n for n in inspect.signature(SRModel.__init__).parameters if n not in ("self", "scale", *own)]
    return own


def list_architectures() -> list[str]:
    """Names accepted by :func:`build_model`, sorted (the values of :class:`Architecture`)."""
    return [a.value for a in Architecture]


def build_model(name: str, scale: int | Sequence[int], **kwargs: Any) -> torch.nn.Module:
    """Build a super-resolution generator.

    Parameters
    ----------
    name : str or Architecture
        One of :class:`Architecture`: ``dcsrn``, ``edsr3d``, ``rrdb3d``, ``srgan2d``,
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
    architecture = look_up_option(name, Architecture, default=None)
    if architecture is None and str(name) in PER_SCAN_BUILDERS:
        architecture = str(name)  # a per-scan model file (see PER_SCAN_BUILDERS)
    if architecture is None:
        raise ValueError(
            f"Unknown architecture {name!r}; known architectures are {', '.join(Architecture)}."
        )
    builder = _BUILDERS.get(architecture) or PER_SCAN_BUILDERS[architecture]
    accepted = options_of(builder)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for architecture {str(architecture)!r}; "
            f"accepted options are {', '.join(accepted)}."
        )
    spatial_dims = kwargs.get("spatial_dims", 3)
    parse_scale(scale, spatial_dims if spatial_dims in (2, 3) else 3)
    return builder(scale, **kwargs).float()
