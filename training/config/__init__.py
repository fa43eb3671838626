"""The training configuration: the typed schema (:mod:`.schema`), its YAML files (:mod:`.files`)
and the one bounded YAML loader they use (:mod:`.safe_yaml`)."""

from .files import CONFIG_DIR, list_presets, load_config, save_config
from .safe_yaml import load_yaml
from .schema import (
    AugmentConfig,
    ConfigError,
    DataConfig,
    DegradationConfig,
    DegradationVariant,
    DiscriminatorConfig,
    GeneratorConfig,
    LossConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    TrainerConfig,
    ValidationConfig,
    validate_config,
)

__all__ = [
    "CONFIG_DIR",
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "DegradationConfig",
    "DegradationVariant",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "LossConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainerConfig",
    "ValidationConfig",
    "list_presets",
    "load_yaml",
    "load_config",
    "save_config",
    "validate_config",
]
