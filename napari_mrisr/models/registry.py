"""Look up a generator by name and build it with a per-axis scale."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import torch
from monai.utils import look_up_option

from napari_mrisr.schema_errors import name_of, shown

from .base import SRModel, parse_scale
from .dcsrn import DCSRN
from .edsr3d import EDSR3D
from .rrdb3d import RRDB3D
from .selfsr2d import SelfSR2D
from .srgan2d import build_srgan2d
from .srgan3d import SRGAN3D

__all__ = ["MAX_OPTION", "Architecture", "build_model", "check_architecture_options", "check_options", "list_architectures", "options_of"]


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


#: Largest whole number an architecture option may take (channels, blocks, layers): far above
#: any reference network, far below one whose weights would exhaust memory when built.
MAX_OPTION = 4096


def check_options(owner: str, accepted: list[str], options: dict[str, Any]) -> None:
    """Refuse, before anything is built, option names ``owner`` does not take and values that
    are not plain numbers, booleans or short strings (whole numbers at most ``MAX_OPTION``)."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(map(name_of, unknown))} for {owner}; "
            f"accepted options are {', '.join(accepted)}."
        )
    for key, value in options.items():
        key = name_of(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Option {key} of {owner} is NaN or infinite.")
        plain = value is None or isinstance(value, bool | str | float)
        whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
        if whole and abs(int(value)) > MAX_OPTION:
            raise ValueError(f"Option {key}={value} of {owner} is beyond {MAX_OPTION}.")
        if not (plain or whole) or isinstance(value, str) and len(value) > 64:
            raise ValueError(f"Option {key} of {owner} must be a number, true/false or a short word, got {shown(value)}.")


def check_architecture_options(name: str, options: dict[str, Any]) -> None:
    """:func:`check_options` for the architecture called ``name`` (known or per-scan)."""
    builder = _BUILDERS.get(name) or PER_SCAN_BUILDERS.get(str(name))
    if builder is not None:
        check_options(f"architecture {str(name)!r}", options_of(builder), options)


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
    check_architecture_options(architecture, kwargs)
    spatial_dims = kwargs.get("spatial_dims", 3)
    parse_scale(scale, spatial_dims if spatial_dims in (2, 3) else 3)
    return builder(scale, **kwargs).float()
