"""Where networks run: one vocabulary of devices for the CLI, the widgets and training.

:class:`Device` names the choices (``auto`` picks CUDA, then Apple MPS, then the CPU);
:func:`pick_device` turns a name (or ``cuda:N``) into a ``torch.device`` and refuses one this
machine lacks; :func:`available_devices` lists what a widget offers here.
"""

from __future__ import annotations

from enum import StrEnum

import torch

__all__ = ["Device", "available_devices", "device_name", "pick_device"]


class Device(StrEnum):
    """Device choices, as users type them (members equal their plain strings)."""

    AUTO = "auto"
    CUDA = "cuda"
    MPS = "mps"
    CPU = "cpu"


#: Other names for a device: Lightning calls a CUDA GPU "gpu".
ALIASES = {"gpu": Device.CUDA}


def device_name(value: str | torch.device) -> str:
    """The :class:`Device` a name means, or a ``cuda:N`` kept as given (ValueError otherwise)."""
    text = str(value).strip().lower()
    text = ALIASES.get(text, text)
    if text in Device.__members__.values() or text.startswith("cuda:") and text[5:].isdigit():
        return str(text)
    raise ValueError(f"Unknown device {str(value)!r}; use auto, cpu, cuda (or cuda:N) or mps.")


def available_devices() -> list[str]:
    """``auto`` plus the devices torch can use on this machine (the CPU always)."""
    devices = [Device.AUTO]
    if torch.cuda.is_available():
        devices.append(Device.CUDA)
    if torch.backends.mps.is_available():
        devices.append(Device.MPS)
    return [str(d) for d in (*devices, Device.CPU)]


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an unavailable device is refused."""
    device = device_name(device)
    if device == Device.AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA GPU is available; use 'auto' or 'cpu'.")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("MPS was requested but this machine has no Apple GPU; use 'auto' or 'cpu'.")
    return chosen
