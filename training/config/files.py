"""Training configs as YAML files: the presets shipped in ``training/configs``, read and written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from napari_mrisr.atomic import write_text

from .safe_yaml import load_yaml
from .schema import ConfigError, TrainConfig, validate_config

__all__ = ["CONFIG_DIR", "list_presets", "load_config", "save_config"]

#: Ready configs shipped with the package.
CONFIG_DIR = Path(__file__).parents[1] / "configs"


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config (a path, or a preset name from ``training/configs``) and validate it.

    ``overrides`` maps dotted field names to values, e.g. ``{"schedule.pretrain_steps": 10}``.
    """
    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / f"{path.stem}.yaml").is_file() and path.parent == Path("."):
        path = CONFIG_DIR / f"{path.stem}.yaml"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise ConfigError(f"Cannot read config {str(path)!r}: {reason}.") from exc
    document = load_yaml(text, repr(path.name)) or {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name!r} must hold a mapping of config sections.")
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = document
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {dotted}: {'.'.join(parents[: depth + 1])} is not a section.")
        node[leaf] = value
    return validate_config(document, path.name)


def save_config(config: TrainConfig, path: str | os.PathLike) -> Path:
    """Write a config as YAML (all fields, so the file reproduces the run)."""
    return write_text(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def list_presets() -> list[str]:
    """Names of the ready configs in ``training/configs``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
