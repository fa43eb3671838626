"""The training configuration: the typed schema (:mod:`.schema`) and its YAML files (:mod:`.files`)."""

from .files import CONFIG_DIR, list_presets, load_config, save_config
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
    "load_config",
    "save_config",
    "validate_config",
]
