"""Content and adversarial losses of the reference systems, as plain functions.

Each adversarial loss comes as two functions, :func:`discriminator_loss` and
:func:`generator_adversarial_loss`, so the module can run the two optimisation steps
separately. All reductions are means (the references' sums made the weights depend on the
patch size).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import torch
import torch.nn.functional as F
from monai.utils import look_up_option

__all__ = [
    "AdversarialLoss",
    "content_loss",
    "discriminator_loss",
    "feature_loss",
    "generator_adversarial_loss",
    "gradient_loss",
    "gradient_penalty",
]


class AdversarialLoss(StrEnum):
    """The kinds of :func:`discriminator_loss` and :func:`generator_adversarial_loss`."""

    LSGAN = "lsgan"
    WGAN_GP = "wgan_gp"
    RELATIVISTIC = "relativistic"


def _adversarial(kind: str) -> AdversarialLoss:
    found = look_up_option(kind, AdversarialLoss, default=None)
    if found is None:
        choices = ", ".join(AdversarialLoss)
        raise ValueError(f"Unknown adversarial loss {kind!r}; choose one of {choices}.")
    return found


def content_loss(kind: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Voxel-wise ``l1`` or ``mse``."""
    return F.l1_loss(sr, hr) if kind == "l1" else F.mse_loss(sr, hr)


def consistency_loss(sr: torch.Tensor, hr: torch.Tensor, degrade: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """L1 of ``degrade(sr)`` and ``degrade(hr)``: the part of the error that the LR measures."""
    return F.l1_loss(degrade(sr), degrade(hr))


def gradient_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Image-gradient loss of MIDL 2018: mean over axes of ``(|dHR| - |dSR|)^2``.

    Forward differences along each spatial axis; the reference summed over voxels and axes.
    """
    total = sr.new_zeros(())
    axes = range(2, sr.dim())
    for axis in axes:
        total = total + F.mse_loss(sr.diff(dim=axis).abs(), hr.diff(dim=axis).abs())
    return total / len(axes)


def feature_loss(features: Callable[[torch.Tensor], list[torch.Tensor]], sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """MSE between discriminator features of SR and HR (HR's detached), averaged over layers.

    The WGAN-GP MRI project used its critic's layer-3 features this way: a perceptual loss
    with no pretrained (downloaded) network. HR and SR go through as one batch, as the module
    judges them (a batch-norm discriminator would otherwise normalise each on its own).
    """
    layers = [f.chunk(2) for f in features(torch.cat([hr.to(sr.dtype), sr]))]
    return sum(F.mse_loss(found, target.detach()) for target, found in layers) / len(layers)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty ``mean_i (||grad_x D(x_i)||_2 - 1)^2`` at random interpolates.

    The norm is taken per sample over all non-batch axes (the reference reduced over the
    batch axis instead: a bug). Computed in float32 outside autocast: it differentiates twice.
    """
    real, fake = real.detach().float(), fake.detach().float()
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    with torch.autocast(real.device.type, enabled=False):
        score = critic(mixed)
        (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


def _smoothed(like: torch.Tensor, low: float, high: float, smooth: bool, value: float) -> torch.Tensor:
    if not smooth:
        return torch.full_like(like, value)
    return torch.empty_like(like).uniform_(low, high)  # drawn anew every step


def discriminator_loss(
    kind: str, d_real: torch.Tensor, d_fake: torch.Tensor, label_smoothing: bool = False
) -> torch.Tensor:
    """The discriminator's loss from its outputs on HR (real) and SR (fake) patches.

    ``lsgan``: ``((D(HR) - a)^2 + (D(SR) - b)^2) / 2`` with ``a ~ U(0.7, 1.2)``,
    ``b ~ U(0, 0.3)`` when smoothing (MIDL 2018), else 1 and 0.
    ``wgan_gp``: ``mean D(SR) - mean D(HR)`` (add :func:`gradient_penalty`).
    ``relativistic``: RaGAN BCE, ``BCE(D(HR) - mean D(SR), 1) + BCE(D(SR) - mean D(HR), 0)``.
    """
    kind = _adversarial(kind)
    d_real, d_fake = d_real.float(), d_fake.float()
    if kind == AdversarialLoss.LSGAN:
        real = _smoothed(d_real, 0.7, 1.2, label_smoothing, 1.0)
        fake = _smoothed(d_fake, 0.0, 0.3, label_smoothing, 0.0)
        return (F.mse_loss(d_real, real) + F.mse_loss(d_fake, fake)) / 2
    if kind == AdversarialLoss.WGAN_GP:
        return d_fake.mean() - d_real.mean()
    return _relativistic(d_real, d_fake)


def generator_adversarial_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial term (``d_real`` is only used by the relativistic loss).

    ``lsgan``: ``(D(SR) - 1)^2``; ``wgan_gp``: ``-mean D(SR)``; ``relativistic`` (ESRGAN's
    symmetric form): ``BCE(D(SR) - mean D(HR), 1) + BCE(D(HR) - mean D(SR), 0)``.
    """
    kind = _adversarial(kind)
    d_real, d_fake = d_real.float(), d_fake.float()
    if kind == AdversarialLoss.LSGAN:
        return F.mse_loss(d_fake, torch.ones_like(d_fake)) / 2
    if kind == AdversarialLoss.WGAN_GP:
        return -d_fake.mean()
    return _relativistic(d_fake, d_real)


def _relativistic(more_real: torch.Tensor, less_real: torch.Tensor) -> torch.Tensor:
    """Relativistic average BCE: ``more_real`` should look more real than ``less_real`` does on
    average, and the other way round; the discriminator and the generator swap the arguments."""
    return (
        F.binary_cross_entropy_with_logits(more_real - less_real.mean(), torch.ones_like(more_real))
        + F.binary_cross_entropy_with_logits(less_real - more_real.mean(), torch.zeros_like(less_real))
    ) / 2
