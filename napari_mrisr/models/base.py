"""What every super-resolution generator shares: its scale, its name and its rebuild recipe."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_mrisr.volume.geometry import per_axis

__all__ = ["SRModel", "check_positive_int", "check_spatial_dims", "parse_scale", "upsample_linear"]


def parse_scale(scale: int | Sequence[int], spatial_dims: int = 3) -> tuple[int, ...]:
    """Normalise a scale to one positive int per spatial axis.

    Parameters
    ----------
    scale : int or sequence of int
        An int means the same factor on every axis.
    spatial_dims : int
        Number of spatial axes (2 or 3).

    Returns
    -------
    tuple of int
        ``spatial_dims`` positive integers.

    Raises
    ------
    ValueError
        If ``scale`` is not a positive int or a sequence of ``spatial_dims`` positive ints.
    """
    return per_axis(scale, "The scale", axes=spatial_dims)


def check_spatial_dims(spatial_dims: int) -> int:
    """Return ``spatial_dims`` if it is 2 or 3, else raise a ``ValueError``."""
    if spatial_dims not in (2, 3) or not _is_int(spatial_dims):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    return int(spatial_dims)


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise a ``ValueError``."""
    if not (_is_int(value) and value > 0):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def upsample_linear(x: torch.Tensor, scale: Sequence[int]) -> torch.Tensor:
    """(Bi/tri)linear upsampling by ``scale`` with ``align_corners=False``, which puts LR voxel
    ``i`` at HR coordinate ``s*i + (s-1)/2``, the geometry of :mod:`napari_mrisr.volume.geometry`."""
    mode = "trilinear" if x.dim() == 5 else "bilinear"
    return F.interpolate(x, scale_factor=tuple(scale), mode=mode, align_corners=False)


def _add_interpolated_input(model: SRModel, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    """Global input skip: the network predicts the residual over :func:`upsample_linear`.

    Learning only the residual makes training converge far faster (VDSR); it is a common MRI
    SR choice, not one of the references'.

    The sum is float32 under a bfloat16 autocast: the interpolated input keeps full precision
    and only the predicted residual carries bf16's rounding, which then costs the bundled models
    a few times less PSNR than a bf16 sum did (``benchmarks/quality.py`` against ``--fp32``).
    """
    return output.float() + upsample_linear(inputs[0].float(), model.scale)


class SRModel(nn.Module):
    """Base class of the generators: records ``scale``, ``architecture`` and ``config``.

    ``build_model(m.architecture, m.scale, **m.config)`` rebuilds the same architecture
    (same state-dict keys and shapes), so ``config`` holds every constructor argument except
    ``scale``, as plain JSON types. A subclass's constructor is wrapped so that this happens
    by itself: the arguments named in ``positive_ints`` are checked before anything is built,
    and every argument is recorded (``float`` and ``bool`` ones as such) once it is built.

    Parameters
    ----------
    scale : int or sequence of int
        Upsampling factor per spatial axis (an int means the same on every axis).
    spatial_dims : int
        2 or 3. Subclasses take it (and ``input_skip``) through their ``**base``.
    input_skip : bool
        Add (tri/bi)linear upsampling of the input to the output, so the network learns
        the residual (see :func:`_add_interpolated_input`).
    """

    architecture: ClassVar[str] = ""
    #: Constructor arguments that must be positive whole numbers (channels, blocks, layers).
    positive_ints: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            cls.__init__ = _recorded(cls.__init__, cls.positive_ints)

    def __init__(self, scale: int | Sequence[int], spatial_dims: int = 3, input_skip: bool = False) -> None:
        super().__init__()
        self.spatial_dims = check_spatial_dims(spatial_dims)
        self.scale: tuple[int, ...] = parse_scale(scale, self.spatial_dims)
        self.input_skip = bool(input_skip)
        self._config: dict[str, Any] = {"spatial_dims": self.spatial_dims, "input_skip": self.input_skip}
        if self.input_skip:
            self.register_forward_hook(_add_interpolated_input)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (besides ``scale``) needed to rebuild this model."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self._config.items()}

    def extra_repr(self) -> str:
        return f"architecture={self.architecture!r}, scale={self.scale}"


def _recorded(init: Callable[..., None], positive_ints: tuple[str, ...]) -> Callable[..., None]:
    """``init`` with its arguments checked (``positive_ints``) and recorded in ``config``.

    Keyword arguments passed on through ``**base`` are recorded under their own names; what
    ``init`` itself put in ``_config`` (e.g. an inner network's defaults) is kept.
    """
    signature = inspect.signature(init)
    types = {name: str(p.annotation) for name, p in signature.parameters.items()}
    passed_on = [n for n, p in signature.parameters.items() if p.kind is p.VAR_KEYWORD]
    plain = {"float": float, "bool": bool}

    @functools.wraps(init)
    def recorded(self: SRModel, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name in positive_ints:
            bound.arguments[name] = check_positive_int(name, bound.arguments[name])
        init(*bound.args, **bound.kwargs)
        arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", "scale", *passed_on)}
        arguments = {k: plain[types[k]](v) if types[k] in plain else v for k, v in arguments.items()}
        for name in passed_on:
            arguments.update(bound.arguments.get(name, {}))
        self._config = {
            **self._config,
            **arguments,
            "spatial_dims": self.spatial_dims,
            "input_skip": self.input_skip,
        }

    return recorded
