"""Discriminators of the reference systems, parameterised by ``spatial_dims`` (2 or 3).

Every discriminator maps HR patches ``(B, 1, D, H, W)`` to logits (one per sample, or a map),
and ``features(x)`` returns its intermediate activations for the feature (perceptual) loss,
which therefore needs no downloaded weights. With ``spatial_dims=2`` the volume's slices along
its first spatial axis are judged as a batch of 2D images (for the slice-wise srgan2d).
"""

from __future__ import annotations

import inspect
from enum import StrEnum

import torch
import torch.nn.functional as F
from monai.networks.layers import Conv, Norm
from monai.utils import look_up_option
from torch import nn

from napari_mrisr.models.registry import check_options

__all__ = [
    "Discriminator",
    "DiscriminatorArchitecture",
    "PatchDiscriminator",
    "SRGANDiscriminator",
    "WGANCritic",
    "WaveletDiscriminator",
    "build_discriminator",
    "haar_dwt",
]


class Discriminator(nn.Module):
    """Base: folds slices into the batch for 2D, runs ``stages`` then ``head``."""

    def __init__(self, spatial_dims: int) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        self.spatial_dims = spatial_dims
        self.stages = nn.ModuleList()
        self.head: nn.Module = nn.Identity()

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial_dims == 3:
            return x
        b, c, d, h, w = x.shape
        return x.movedim(2, 1).reshape(b * d, c, h, w)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after every stage."""
        out, x = [], self._fold(x)
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1])


def _conv(dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1, spectral: bool = False) -> nn.Module:
    layer = Conv[Conv.CONV, dims](cin, cout, kernel, stride=stride, padding=kernel // 2)
    return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer


def _norm(dims: int, kind: str | None, channels: int) -> nn.Module:
    if kind in (None, "none", "spectral"):
        return nn.Identity()
    if kind == "batch":
        return Norm[Norm.BATCH, dims](channels)
    if kind == "instance":
        return Norm[Norm.INSTANCE, dims](channels, affine=True)
    raise ValueError(f"Unknown norm {kind!r}; choose batch, instance, spectral or none.")


class _GlobalHead(nn.Module):
    """Global average pooling, then dense layers (replaces the references' fixed flatten)."""

    def __init__(self, channels: int, hidden: int | None, slope: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        if hidden:
            layers += [nn.Linear(channels, hidden), nn.LeakyReLU(slope), nn.Linear(hidden, 1)]
        else:
            layers += [nn.Linear(channels, 1)]
        self.dense = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x.mean(dim=tuple(range(2, x.dim())), keepdim=True))


class SRGANDiscriminator(Discriminator):
    """SRGAN / MIDL 2018 discriminator: 8 conv3 (F, F, 2F, 2F, 4F, 4F, 8F, 8F; strides 1/2),
    BN after all but the first, LeakyReLU(0.3), then dense 1024 and dense 1.

    Reference systems: imatge-upc/3D-GAN-superresolution (F=32) and the 2D brain-tumour SRGAN
    (F=64, LeakyReLU 0.2). Global pooling replaces the fixed flatten (~100M parameters there).
    """

    def __init__(self, spatial_dims: int = 3, features: int = 32, slope: float = 0.3, hidden: int = 1024) -> None:
        super().__init__(spatial_dims)
        cin = 1
        for i, mult in enumerate((1, 1, 2, 2, 4, 4, 8, 8)):
            cout = features * mult
            self.stages.append(
                nn.Sequential(
                    _conv(spatial_dims, cin, cout, 3, stride=1 + i % 2),
                    _norm(spatial_dims, None if i == 0 else "batch", cout),
                    nn.LeakyReLU(slope),
                )
            )
            cin = cout
        self.head = _GlobalHead(cin, hidden, slope)


class PatchDiscriminator(Discriminator):
    """3-player GAN patch discriminator: blocks of [conv3 s1 + norm, conv3 s2 + norm],
    LeakyReLU 0.2, channels F..8F, then conv3 -> one logit per patch location
    (a 4^3 map for 64^3 input with 4 blocks).

    Reference system: wqlevi 3-player GAN (PyTorch Lightning). ``norm`` is instance, batch or
    spectral (spectral normalisation of every conv, no norm layer).
    """

    def __init__(
        self, spatial_dims: int = 3, features: int = 64, num_blocks: int = 4, norm: str = "instance"
    ) -> None:
        super().__init__(spatial_dims)
        spectral = norm == "spectral"
        cin = 1
        for i in range(num_blocks):
            cout = features * 2 ** min(i, 3)
            self.stages.append(
                nn.Sequential(
                    _conv(spatial_dims, cin, cout, 3, 1, spectral),
                    _norm(spatial_dims, None if i == 0 else norm, cout),
                    nn.LeakyReLU(0.2),
                    _conv(spatial_dims, cout, cout, 3, 2, spectral),
                    _norm(spatial_dims, norm, cout),
                    nn.LeakyReLU(0.2),
                )
            )
            cin = cout
        self.head = _conv(spatial_dims, cin, 1, 3, 1, spectral)


class WGANCritic(Discriminator):
    """WGAN-GP MRI critic: conv k5 s2 (F, 2F, 4F) + LeakyReLU, no normalisation (a gradient
    penalty needs none), then a dense score.

    Reference system: Matesanz WGAN-GP MRI SR (F=16). Their generator's content loss compares
    this critic's layer-3 features of SR and HR; ``features`` gives them.
    """

    def __init__(self, spatial_dims: int = 3, features: int = 16, slope: float = 0.2) -> None:
        super().__init__(spatial_dims)
        cin = 1
        for mult in (1, 2, 4):
            self.stages.append(
                nn.Sequential(_conv(spatial_dims, cin, features * mult, 5, 2), nn.LeakyReLU(slope))
            )
            cin = features * mult
        self.head = _GlobalHead(cin, None, slope)


def haar_dwt(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One level of the orthonormal Haar DWT over every spatial axis.

    Returns the low band ``(B, C, *n/2)`` and the ``2**dims - 1`` high bands stacked on the
    channel axis ``(B, C*(2**dims - 1), *n/2)``. Spatial sizes must be even.
    Written here: MONAI and torch have no N-D DWT, and a Haar step is a few lines.
    """
    bands = [x]
    for axis in range(2, x.dim()):
        if x.shape[axis] % 2:
            raise ValueError(f"The Haar DWT needs even sizes, got {tuple(x.shape[2:])}.")
        split = []
        for band in bands:
            even, odd = band.unflatten(axis, (-1, 2)).unbind(axis + 1)
            split += [(even + odd) / 2**0.5, (even - odd) / 2**0.5]
        bands = split
    return bands[0], torch.cat(bands[1:], dim=1)


class WaveletDiscriminator(Discriminator):
    """DISGAN wavelet-informed U-Net discriminator with per-voxel logits.

    The encoder takes the Haar low band at 1/2 and 1/4 resolution; the decoder's skips take
    the high-frequency bands at the same scales, where SR artefacts live. Output: one logit
    per HR voxel. Reference system: wqlevi DISGAN. Patch sizes must divide by 4.
    """

    def __init__(self, spatial_dims: int = 3, features: int = 32, norm: str = "spectral") -> None:
        super().__init__(spatial_dims)
        dims, f, spectral = spatial_dims, features, norm == "spectral"
        high = 2**dims - 1

        def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(
                _conv(dims, cin, cout, 3, stride, spectral), _norm(dims, norm, cout), nn.LeakyReLU(0.2)
            )

        # Registered in this order so that parameters() lists them in the order of earlier
        # versions, whose checkpoints' optimiser states then resume in place.
        self.enc1 = block(1, f)  # low band, 1/2
        self.enc2 = block(f + 1, 2 * f)  # downsampled enc1 + low band, 1/4
        self.bottom = block(2 * f, 2 * f)
        self.dec2 = block(2 * f + high, 2 * f)  # + high bands, 1/4
        self.dec1 = block(2 * f + f + high, f)  # + enc1 skip + high bands, 1/2
        self.down = block(f, f, stride=2)
        self.out = _conv(dims, f, 1, 3, 1, spectral)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # Checkpoints of earlier versions also held enc1, enc2, bottom, dec2 and dec1 as
        # ``stages.0`` to ``stages.4``: the same tensors twice. Drop that copy.
        for key in [k for k in state_dict if k.startswith(f"{prefix}stages.")]:
            del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _run(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = self._fold(x)
        low1, high1 = haar_dwt(x)
        low2, high2 = haar_dwt(low1)
        e1 = self.enc1(low1)
        e2 = self.enc2(torch.cat([self.down(e1), low2], 1))
        b = self.bottom(e2)
        d2 = self.dec2(torch.cat([b, high2], 1))
        up = F.interpolate(d2, scale_factor=2, mode="nearest")
        d1 = self.dec1(torch.cat([up, e1, high1], 1))
        logits = self.out(F.interpolate(d1, scale_factor=2, mode="nearest"))
        return [e1, e2, b, d2, d1], logits

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self._run(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)[1]


class DiscriminatorArchitecture(StrEnum):
    """The adversaries of :func:`build_discriminator`; ``none`` (training without one) is
    accepted by the training config but builds nothing."""

    NONE = "none"
    SRGAN = "srgan"
    PATCH = "patch"
    WAVELET = "wavelet"
    WGAN = "wgan"


_BUILDERS: dict[DiscriminatorArchitecture, type[Discriminator]] = {
    DiscriminatorArchitecture.SRGAN: SRGANDiscriminator,
    DiscriminatorArchitecture.PATCH: PatchDiscriminator,
    DiscriminatorArchitecture.WAVELET: WaveletDiscriminator,
    DiscriminatorArchitecture.WGAN: WGANCritic,
}


def build_discriminator(name: str, **options) -> Discriminator:
    """A discriminator by name (``srgan``, ``patch``, ``wavelet``, ``wgan``) with its options."""
    builder = look_up_option(name, _BUILDERS, default=None)
    if builder is None:
        choices = ", ".join(_BUILDERS)
        raise ValueError(f"Unknown discriminator {str(name)!r}; choose one of {choices}.")
    check_discriminator_options(name, options)
    try:
        return builder(**options)
    except TypeError as exc:
        raise ValueError(f"Bad option for discriminator {str(name)!r}: {exc}.") from None


def check_discriminator_options(name: str, options: dict) -> None:
    """Refuse unknown options and hostile values (:func:`napari_mrisr.models.check_options`)
    before anything is built."""
    builder = look_up_option(name, _BUILDERS, default=None)
    if builder is None:
        return
    params = inspect.signature(builder).parameters
    accepted = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    check_options(f"discriminator {str(name)!r}", accepted, options)
