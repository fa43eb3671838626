"""Where model files live: the bundled ones, the user's folder, and the list of both."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .metadata import SUFFIX, ModelError, read_metadata

__all__ = ["ModelFileWarning", "ModelInfo", "bundled_models_dir", "list_models", "user_models_dir"]


@dataclass(frozen=True)
class ModelInfo:
    """A model file found by :func:`list_models` (metadata read without loading weights)."""

    name: str
    path: Path
    meta: dict
    bundled: bool


def bundled_models_dir() -> Path:
    return Path(__file__).parents[1] / "pretrained"


def user_models_dir() -> Path:
    """Where users put their own model files (and where training exports them)."""
    env = os.environ.get("NAPARI_MRISR_MODELS")
    return Path(env) if env else Path(platformdirs.user_data_dir("napari-mrisr")) / "models"


class ModelFileWarning(UserWarning):
    """A file in the user's model folder was skipped (unreadable, or named like a bundled model)."""


def list_models() -> list[ModelInfo]:
    """Bundled models, then the user's, by name.

    A user file that cannot be used, or whose name a bundled model already has, is skipped
    with one warning naming it: one bad file never hides the others.
    """
    found: dict[str, ModelInfo] = {}
    for folder, bundled in ((bundled_models_dir(), True), (user_models_dir(), False)):
        # By name, so a model comes before its "-gan" twin (file names sort "-" before "."); a
        # missing folder globs to nothing.
        for path in sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.name.removesuffix(SUFFIX)):
            try:
                meta = read_metadata(path)
            except ModelError as exc:
                # stacklevel 1: one warning per file, however many callers list the models
                warnings.warn(f"Skipping model file {str(path)!r}: {exc}", ModelFileWarning, stacklevel=1)
                continue
            if path.stem in found:
                warnings.warn(
                    f"Skipping model file {str(path)!r}: a bundled model is named {path.stem!r}; "
                    "rename the file to use it.",
                    ModelFileWarning,
                    stacklevel=1,
                )
                continue
            found[path.stem] = ModelInfo(path.stem, path, meta, bundled)
    return list(found.values())
