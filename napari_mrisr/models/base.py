"""What every super-resolution generator shares: its scale, its name and its rebuild recipe."""

from __future__ import annotations

from collections.abc import Sequence
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
    and only the predicted residual carries bf16's rounding (on the held-out slabs, bf16 then
    costs the six bundled models at most 0.008 dB of PSNR, where a bf16 sum cost up to 0.04).
    """
    return output.float() + upsample_linear(inputs[0].float(), model.scale)


class SRModel(nn.Module):
    """Base class of the generators: records ``scale``, ``architecture`` and ``config``.

    ``build_model(m.architecture, m.scale, **m.config)`` rebuilds the same architecture
    (same state-dict keys and shapes), so ``config`` holds every constructor argument except
    ``scale``, as plain JSON types.
    """

    architecture: ClassVar[str] = ""

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
