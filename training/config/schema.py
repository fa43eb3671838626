"""The typed training configuration: every section and field of a run, documented and checked.

Every field is documented and validated by pydantic; a bad value is refused with a sentence
naming the field (:class:`ConfigError`). Longer than our usual module because it is one
declarative schema, a field and its documentation per few lines: split, the sections would
only import each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from napari_mrisr.engine.devices import ALIASES, Device
from napari_mrisr.engine.precision import Precision
from napari_mrisr.models import Architecture
from napari_mrisr.models.registry import check_architecture_options
from napari_mrisr.schema_errors import first_error
from napari_mrisr.volume.degrade import DegradationMethod
from napari_mrisr.volume.geometry import per_axis

from ..discriminators import DiscriminatorArchitecture, check_discriminator_options
from ..losses import AdversarialLoss

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "DegradationConfig",
    "DegradationVariant",
    "TrainConfig",
    "validate_config",
]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the bad field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AugmentConfig(_Section):
    """Changes to the HR region before it is degraded (so LR and HR agree), all off by default.

    They vary what one template cannot: the receive-coil bias field, the tissue contrast
    (gamma) and the weighting (inversion, T2-like), drawn per patch by
    :func:`napari_mrisr.training.data.augment.draw_augmentation` and applied by ``augment`` on both
    pipelines; and the head's pose (rotation: a head tilted against the slices, where the
    template is aligned with them), as rotated copies of the training volumes made once
    (:func:`~napari_mrisr.training.data.augment.rotated_copies`).
    """

    bias_field: float = Field(
        0.0, ge=0, le=1, description="Std of the log bias field at its coarse grid nodes (0 = none); e.g. 0.15."
    )
    bias_grid: int = Field(
        3, ge=2, le=8, description="Bias-field grid nodes per axis over the patch (trilinearly upsampled, smooth)."
    )
    gamma: float = Field(
        0.0, ge=0, le=1, description="Contrast change x -> x**g with log(g) ~ U(-gamma, gamma) (0 = none)."
    )
    invert: float = Field(
        0.0, ge=0, le=1, description="Probability of inverting the patch's intensity range (T2-like contrast)."
    )
    rotation: float = Field(
        0.0, ge=0, le=45, description="Largest angle (degrees) of the rotated copies of each training volume (0 = none); e.g. 10."
    )
    rotated_copies: int = Field(
        4, ge=1, le=32, description="Copies of each training volume, each turned by its own random rotation, when rotation > 0."
    )

    @property
    def active(self) -> bool:
        return bool(self.bias_field or self.gamma or self.invert)


class DataConfig(_Section):
    """Where the HR volumes come from and how training patches are drawn."""

    paths: list[str] = Field(
        default_factory=list,
        description="NIfTI/MGZ files or folders of them; empty means the built-in MNI152 sample.",
    )
    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of volumes (or, for one volume, of its slices) held out."
    )
    slab_gap: int = Field(
        8, ge=0, description="HR voxels left out between training and validation slabs (one volume)."
    )
    patch_size: list[int] = Field([32, 32, 32], description="HR patch edge per axis (voxels).")
    batch_size: int = Field(4, ge=1, description="Patches per step and per device.")
    foreground_fraction: float = Field(
        0.9, ge=0, le=1, description="Share of patches centred on a foreground voxel."
    )
    flips: bool = Field(True, description="Random flips along each axis.")
    intensity_jitter: float = Field(
        0.1, ge=0, lt=1, description="Random intensity scale in [1 - j, 1 + j] applied to LR and HR."
    )
    num_workers: Annotated[int, Field(ge=0, le=256)] | Literal["auto"] = Field(
        "auto", description="Data-loading processes of the workers pipeline; auto = min(8, CPU cores - 1)."
    )
    augment: AugmentConfig = Field(
        default_factory=AugmentConfig, description="Bias-field, gamma and inversion augmentation of the HR region."
    )
    pipeline: Literal["auto", "device", "workers"] = Field(
        "auto",
        description="Where patches are cut and degraded: device = whole batches on the training "
        "device (volumes held there); workers = CPU DataLoader workers; auto = device on a CUDA "
        "GPU that holds the volumes in half its free memory, else workers.",
    )

    @field_validator("patch_size", mode="before")
    @classmethod
    def _patch_size(cls, value: Any) -> list[int]:
        return list(per_axis(value, "patch_size", minimum=4))


class DegradationVariant(_Section):
    """One acquisition of a degradation family (``degradation.family``)."""

    method: DegradationMethod = Field(
        description="kspace: k-space truncation; gaussian: Gaussian blur; thick_slice: box slice profile."
    )
    width: list[float] | None = Field(
        None,
        description="gaussian FWHM or thick_slice thickness, drawn uniformly in [low, high], in LR "
        "voxels (multiples of each factor); thinner than 1 leaves a slice gap. None = the "
        "method of simulate_lr itself (1 LR voxel). kspace has no width.",
    )
    noise: list[float] | None = Field(
        None,
        description="Rician noise std drawn uniformly in [low, high], as a fraction of the volume "
        "maximum; None = U(0, degradation.noise).",
    )
    weight: float = Field(1.0, gt=0, description="Relative chance of this variant.")

    @field_validator("width", "noise", mode="before")
    @classmethod
    def _range(cls, value: Any) -> list[float] | None:
        if value is None:
            return None
        value = [float(v) for v in ([value, value] if isinstance(value, int | float) else value)]
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError("a range is [low, high] with low <= high (or one number)")
        return value

    @model_validator(mode="after")
    def _limits(self) -> DegradationVariant:
        if self.width is not None:
            if self.method == DegradationMethod.KSPACE:
                raise ValueError("kspace truncation has no width; leave width out")
            # 2 LR voxels: a Gaussian's matrix reaches 2 FWHM = 4 LR voxels, the patch margin.
            if not (0.25 <= self.width[0] and self.width[1] <= 2.0):
                raise ValueError("width must lie within [0.25, 2] LR voxels")
        if self.noise is not None and not (0 <= self.noise[0] and self.noise[1] <= 0.5):
            raise ValueError("noise must lie within [0, 0.5]")
        return self


class DegradationConfig(_Section):
    """The simulated acquisition the model learns to invert (``napari_mrisr.volume.degrade``).

    ``method`` and ``noise`` describe the nominal acquisition (the validation LR, the intensity
    normalisation, the model file's metadata). A ``family`` trains over several acquisitions
    instead: each patch draws one variant (by weight), its width and its noise.
    """

    method: DegradationMethod = Field(
        DegradationMethod.KSPACE, description="Forward model of napari_mrisr.volume.degrade.simulate_lr."
    )
    factors: list[int] = Field([2, 2, 2], description="Per-axis factors, file voxel axes.")
    noise: float = Field(
        0.0, ge=0, le=0.5, description="Rician noise up to this fraction of the HR maximum (random per patch)."
    )
    family: list[DegradationVariant] = Field(
        default_factory=list,
        description="Acquisitions to train over, one drawn per patch; empty = method and noise only.",
    )

    @field_validator("factors", mode="before")
    @classmethod
    def _factors(cls, value: Any) -> list[int]:
        value = list(per_axis(value, "factors"))
        if any(v > 8 for v in value) or all(v == 1 for v in value):
            raise ValueError("factors must be 1..8 per axis with at least one above 1")
        return value


class GeneratorConfig(_Section):
    """The SR network, built with ``napari_mrisr.models.build_model``."""

    architecture: Architecture = Architecture.SRGAN3D
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options of the architecture (see its docstring)."
    )
    init_weights: str | None = Field(
        None, description="A model name (list_models) or .safetensors file to start from (fine-tuning); same architecture."
    )

    @model_validator(mode="after")
    def _known_options(self) -> GeneratorConfig:
        check_architecture_options(self.architecture, self.options)
        return self


class DiscriminatorConfig(_Section):
    """The adversary; ``none`` trains the generator with content losses only."""

    architecture: DiscriminatorArchitecture = DiscriminatorArchitecture.NONE
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword options.")

    @model_validator(mode="after")
    def _known_options(self) -> DiscriminatorConfig:
        check_discriminator_options(self.architecture, self.options)
        return self

    judges: Literal["image", "detail"] = Field(
        "image",
        description="What it judges: the HR-sized image, or its detail over the LR input's linear upsampling.",
    )
    input_gain: float = Field(
        1.0,
        gt=0,
        description="Multiplies what it judges: a spectral-norm discriminator's scores differ no more than its "
        "inputs do, and a good model's detail is a few hundredths of the intensity range.",
    )


class LossConfig(_Section):
    """Generator loss = content + gradient + feature + adversarial terms, each weighted."""

    content: Literal["l1", "mse"] = Field("l1", description="Voxel-wise content loss.")
    content_weight: float = Field(1.0, ge=0)
    gradient_weight: float = Field(
        0.0, ge=0, description="Image-gradient loss (MIDL 2018): (|grad HR| - |grad SR|)^2."
    )
    consistency_weight: float = Field(
        0.0,
        ge=0,
        description="L1 of SR and HR after the nominal forward model, no noise: the error the LR measures.",
    )
    feature_weight: float = Field(
        0.0, ge=0, description="MSE of discriminator features of SR and HR (adversarial phase)."
    )
    adversarial: AdversarialLoss = AdversarialLoss.LSGAN
    adversarial_weight: float = Field(1e-3, ge=0)
    label_smoothing: bool = Field(
        True, description="LSGAN: real labels ~ U(0.7, 1.2), fake ~ U(0, 0.3), drawn every step."
    )
    gradient_penalty: float = Field(10.0, ge=0, description="WGAN-GP penalty weight.")
    instance_noise: float = Field(
        0.0, ge=0, description="Std of noise on discriminator inputs, decaying linearly to 0."
    )
    critic_steps: int = Field(1, ge=1, description="Discriminator updates per generator update.")


class OptimConfig(_Section):
    """Adam for both players, with optional inverse-time decay of the learning rates."""

    lr_generator: float = Field(1e-4, gt=0)
    lr_discriminator: float = Field(1e-4, gt=0)
    betas: list[float] = Field([0.9, 0.999], min_length=2, max_length=2)
    lr_decay: float = Field(0.0, ge=0, description="lr = lr0 / (1 + decay * step).")


class ScheduleConfig(_Section):
    """Content-only pre-training, then adversarial training, in generator steps."""

    pretrain_steps: int = Field(1000, ge=0, description="Generator steps with content losses only.")
    adversarial_steps: int = Field(0, ge=0, description="Steps of GAN training after pre-training.")
    steps_per_epoch: int = Field(100, ge=1, description="Steps between validations and checkpoints.")
    log_every: int = Field(10, ge=1, description="Steps between progress events.")

    @model_validator(mode="after")
    def _some_steps(self) -> ScheduleConfig:
        if self.pretrain_steps + self.adversarial_steps == 0:
            raise ValueError("pretrain_steps + adversarial_steps must be at least 1")
        return self

    @property
    def total_steps(self) -> int:
        return self.pretrain_steps + self.adversarial_steps


class TrainerConfig(_Section):
    """Hardware and Lightning settings."""

    accelerator: Device = Field(
        Device.AUTO, description="auto, cpu, cuda or mps (Lightning's name gpu means cuda)."
    )
    devices: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
        1, description="Devices per node (DDP when above 1); auto = every device of the accelerator."
    )
    num_nodes: int = Field(
        1, ge=1, le=4096, description="Nodes of a multi-node run; each is started by the cluster's launcher."
    )
    strategy: str = Field("auto", description="Lightning strategy, e.g. ddp.")
    precision: Precision = Field(
        Precision.AUTO,
        description="auto = bf16-mixed where the device computes bfloat16 natively (a GPU, or a CPU "
        "with AVX512-BF16 or AMX), else 32-true.",
    )
    max_time: str | None = Field(
        None,
        pattern=r"^\d+:\d{1,2}:\d{1,2}:\d{1,2}$",
        description="Stop after DD:HH:MM:SS even if steps remain.",
    )
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = Field(
        "none",
        description="torch.compile mode of the generator's training forward (reduce-overhead adds "
        "CUDA graphs); validation and the exported file use the plain network. On 2 CPU cores "
        "it gave no gain (benchmarks/training_throughput.py --compile).",
    )

    @field_validator("accelerator", mode="before")
    @classmethod
    def _accelerator(cls, value: Any) -> Any:
        return ALIASES.get(value, value) if isinstance(value, str) else value


class ValidationConfig(_Section):
    """Validation on whole held-out volumes through napari_mrisr.engine.inference."""

    tile: int | None = Field(None, ge=8, description="Inference tile (LR voxels); default auto.")
    sample_slices: int = Field(3, ge=0, description="Slices saved as PNG at each validation.")
    noise_seed: int = 0


class TrainConfig(_Section):
    """A complete training run."""

    name: str = Field(
        "model", pattern=r"^[A-Za-z0-9_.-]+$", description="Run and model name (a folder under output_dir)."
    )
    output_dir: str = Field("runs", description="Runs are written to OUTPUT_DIR/NAME.")
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    degradation: DegradationConfig = Field(default_factory=DegradationConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @field_validator("name")
    @classmethod
    def _own_folder(cls, value: str) -> str:
        if set(value) == {"."}:  # "." or ".." would write into output_dir or its parent
            raise ValueError("a name of only dots is not a folder of its own")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        for axis, (p, f) in enumerate(zip(self.data.patch_size, self.degradation.factors, strict=True)):
            if p % f:
                raise ValueError(f"data.patch_size[{axis}]={p} is not a multiple of factor {f}")
        if self.schedule.adversarial_steps and self.discriminator.architecture == "none":
            raise ValueError("schedule.adversarial_steps needs a discriminator (discriminator.architecture)")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def validate_config(document: dict[str, Any], source: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from a mapping, or :class:`ConfigError` naming the first bad field."""
    try:
        return TrainConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(first_error(exc, source)) from None
    except RecursionError:  # a document nested too deeply for the validator
        raise ConfigError(f"{source}: nested too deeply to be a config.") from None
