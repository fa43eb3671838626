"""The Lightning module: content-only pre-training, then GAN training, with manual optimisation.

One training step is ``critic_steps`` discriminator updates (adversarial phase only), then one
generator update. The step counter is ``epoch * steps_per_epoch + batch_idx``, so a resumed run
picks up the schedule where its checkpoint left it.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import torch

from napari_mrisr.engine.optim import adam
from napari_mrisr.models import build_model, to_channels_last
from napari_mrisr.models.base import upsample_linear
from napari_mrisr.volume import degrade_torch
from napari_mrisr.volume.metrics import mean_tables

from . import losses
from .config import TrainConfig, validate_config
from .cpu_bf16 import keep_short_conv3d_in_float32
from .discriminators import build_discriminator
from .validation import evaluate_pair, save_slices

__all__ = ["NonFiniteLossError", "SRModule"]


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the step was not applied."""


class SRModule(pl.LightningModule):
    """Generator (and optional discriminator) of a :class:`~napari_mrisr.training.config.TrainConfig`."""

    def __init__(self, config: TrainConfig | dict) -> None:
        super().__init__()
        self.automatic_optimization = False
        # A dict only when Lightning rebuilds the module from a checkpoint's hyperparameters.
        self.config: TrainConfig = config if isinstance(config, TrainConfig) else validate_config(config)
        # Plain data in the checkpoint: a resume reads it weights-only, nothing unpickled.
        self.save_hyperparameters({"config": self.config.model_dump(mode="json")})
        c = self.config
        self.generator = build_model(c.generator.architecture, tuple(c.degradation.factors), **c.generator.options)
        if c.generator.init_weights:
            self._load_generator(c.generator.init_weights)
        self.discriminator = None
        if c.discriminator.architecture != "none":
            self.discriminator = build_discriminator(c.discriminator.architecture, **c.discriminator.options)
        self._finite: dict[str, torch.Tensor] = {}  # player -> "every loss finite" since the last check
        self._checked = 0  # steps checked by _check_finite
        self.validation_results: list[dict] = []
        self.last_validation: dict | None = None
        self.last_samples: Path | None = None  # PNG of the last validation's slices
        # The generator under trainer.compile, made at first use; held in a list, since as an
        # attribute the compiled wrapper would join the module tree and its state_dict keys.
        self._compiled_generator: list[torch.nn.Module] = []

    def _load_generator(self, path: str) -> None:
        """Start from a model file's weights (fine-tuning, e.g. GAN training of a content model)."""
        from napari_mrisr.zoo.metadata import ModelError
        from napari_mrisr.zoo.model_file import load_model

        source = load_model(path)
        if source.architecture != self.generator.architecture or source.config != self.generator.config:
            raise ModelError(
                f"generator.init_weights {path!r} is a {source.architecture} with {source.config}, "
                f"not the configured {self.generator.architecture} with {self.generator.config}."
            )
        self.generator.load_state_dict(source.state_dict())

    def setup(self, stage: str) -> None:
        # On CPU, the inference engine (run by validation) switches the generator to
        # channels_last_3d; doing it before DDP wraps the module keeps DDP's gradient buckets
        # matching, and it is oneDNN's fast Conv3d layout for training as well. oneDNN's bfloat16
        # weight gradient is wrong on maps shorter than the kernel: those layers run in float32.
        if self.trainer is not None and self.trainer.strategy.root_device.type == "cpu":
            to_channels_last(self.generator)
            for net in (self.generator, self.discriminator):
                if net is not None:
                    keep_short_conv3d_in_float32(net)

    def generate(self, lr: torch.Tensor) -> torch.Tensor:
        """The generator's training forward, compiled when ``trainer.compile`` asks.

        The compiled wrapper shares the generator's weights; validation and export run the
        plain network (tiles of any shape would each compile anew). The module is compiled, not
        its ``forward`` method, which would skip the input skip (a forward hook).
        """
        mode = self.config.trainer.compile
        if mode == "none":
            return self.generator(lr)
        if not self._compiled_generator:
            self._compiled_generator.append(torch.compile(self.generator, mode=mode))
        return self._compiled_generator[0](lr)

    # -- schedule ---------------------------------------------------------------------------
    def step_number(self, batch_idx: int) -> int:
        return self.current_epoch * self.config.schedule.steps_per_epoch + batch_idx

    def is_adversarial(self, step: int) -> bool:
        return self.discriminator is not None and step >= self.config.schedule.pretrain_steps

    def instance_noise(self, step: int) -> float:
        """sigma decays linearly from ``loss.instance_noise`` to 0 over the adversarial phase."""
        s = self.config.schedule
        progress = (step - s.pretrain_steps) / max(1, s.adversarial_steps)
        return self.config.loss.instance_noise * max(0.0, 1.0 - progress)

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self):
        o = self.config.optim
        decay = o.lr_decay

        def schedule(opt):
            return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + decay * step))

        opt_g = adam(self.generator.parameters(), o.lr_generator, tuple(o.betas))
        if self.discriminator is None:
            return [opt_g], [schedule(opt_g)]
        opt_d = adam(self.discriminator.parameters(), o.lr_discriminator, tuple(o.betas))
        return [opt_g, opt_d], [schedule(opt_g), schedule(opt_d)]

    def judge(
        self, lr: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, sigma: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The discriminator's outputs on real and fake patches, judged as one batch.

        Judged apart, a batch-norm discriminator (srgan) normalises each batch to the same
        channel statistics and, after its global pooling, gives every batch the same mean
        score: it cannot tell SR from HR at all.
        """
        x = self.judged(lr, torch.cat([real, fake.to(real.dtype)]))
        if sigma > 0:
            x = x + sigma * torch.randn_like(x)
        d_real, d_fake = self.discriminator(x).chunk(2)  # a 2D one folds slices batch-major
        return d_real, d_fake

    def judged(self, lr: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """What the discriminator sees of HR-sized patches ``x`` (one or more per LR patch).

        ``judges: detail`` takes away the LR input's linear upsampling (what the generator's
        input skip adds), leaving the detail where SR and HR differ. On the MNI x4 thick-slice
        task, an image srgan discriminator trained alone against the bundled model stayed at
        chance for 100 steps; a detail one told them apart within 50.

        ``input_gain`` scales it: a spectral-norm discriminator is 1-Lipschitz, so on detail
        with a standard deviation of 0.06 it gave SR and HR the same score for 60 steps
        alone; at gain 20 it told them apart by step 50.
        """
        d = self.config.discriminator
        if d.judges == "detail":
            upsampled = upsample_linear(lr, self.generator.scale).to(x.dtype)
            x = x - upsampled.repeat(len(x) // len(lr), *[1] * (x.dim() - 1))
        return x if d.input_gain == 1 else d.input_gain * x

    def training_step(self, batch, batch_idx: int) -> None:
        lr, hr = batch
        step = self.step_number(batch_idx)
        c = self.config.loss
        optimizers = self.optimizers()
        opt_g, opt_d = (optimizers, None) if self.discriminator is None else optimizers
        adversarial = self.is_adversarial(step)
        logs: dict[str, torch.Tensor] = {}

        if adversarial:
            sigma = self.instance_noise(step)
            for _ in range(self.config.loss.critic_steps):
                with torch.no_grad():
                    fake = self.generate(lr)
                d_real, d_fake = self.judge(lr, hr, fake, sigma)
                d_loss = losses.discriminator_loss(c.adversarial, d_real, d_fake, c.label_smoothing)
                if c.adversarial == "wgan_gp":
                    gp = losses.gradient_penalty(lambda x: self.discriminator(self.judged(lr, x)), hr, fake)
                    logs["gradient_penalty"] = gp.detach()
                    d_loss = d_loss + c.gradient_penalty * gp
                self._note_finite("discriminator", d_loss)
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(d_loss)
                opt_d.step()
            logs["loss_d"] = d_loss.detach()
            # The mean scores show whether the discriminator tells them apart at all.
            logs["d_real"], logs["d_fake"] = d_real.detach().mean(), d_fake.detach().mean()

        sr = self.generate(lr)
        content = losses.content_loss(c.content, sr.float(), hr)
        g_loss = c.content_weight * content
        logs["loss_content"] = content.detach()
        if c.consistency_weight:
            d = self.config.degradation
            cons = losses.consistency_loss(sr.float(), hr, lambda x: degrade_torch.simulate_lr(x, d.factors, d.method))
            g_loss = g_loss + c.consistency_weight * cons
            logs["loss_consistency"] = cons.detach()
        if c.gradient_weight:
            grad = losses.gradient_loss(sr.float(), hr)
            g_loss = g_loss + c.gradient_weight * grad
            logs["loss_gradient"] = grad.detach()
        if adversarial:
            if c.feature_weight:
                feat = losses.feature_loss(lambda x: self.discriminator.features(self.judged(lr, x)), sr, hr)
                g_loss = g_loss + c.feature_weight * feat
                logs["loss_feature"] = feat.detach()
            d_real, d_fake = self.judge(lr, hr, sr, sigma)
            adv = losses.generator_adversarial_loss(c.adversarial, d_real.detach(), d_fake)
            g_loss = g_loss + c.adversarial_weight * adv
            logs["loss_adversarial"] = adv.detach()
        logs["loss_g"] = g_loss.detach()
        self._note_finite("generator", g_loss)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        schedulers = self.lr_schedulers()
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        for scheduler in schedulers[: 2 if adversarial else 1]:  # the discriminator's only once it trains
            scheduler.step()

        s = self.config.schedule
        if (step + 1) % s.log_every == 0 or batch_idx + 1 == s.steps_per_epoch or step + 1 == s.total_steps:
            # Only here: each logged value costs Lightning's bookkeeping, and a number is
            # copied to the device, which waits for the GPU; the loggers, the progress bar and
            # the events read them at these steps.
            self.log_dict({f"train/{k}": v.float() for k, v in logs.items()}, prog_bar=False, on_step=True)
            self.log("train/phase_adversarial", float(adversarial), on_step=True)
            self.log("train/loss", logs["loss_g"].float(), prog_bar=True, on_step=True)
            self._check_finite(step)

    def on_train_start(self) -> None:
        self._checked = self.current_epoch * self.config.schedule.steps_per_epoch  # a resumed run

    def _note_finite(self, player: str, loss: torch.Tensor) -> None:
        # A device-side flag, read every log_every steps: a check per step would make every
        # step wait for the GPU.
        flag = torch.isfinite(loss.detach())
        self._finite[player] = flag if player not in self._finite else self._finite[player] & flag

    def _check_finite(self, step: int) -> None:
        """Stop if a loss was NaN or infinite since the last check; run before each checkpoint."""
        for player, flag in self._finite.items():
            if not bool(flag):
                when = f"at step {step + 1}" if self._checked == step else f"between steps {self._checked + 1} and {step + 1}"
                raise NonFiniteLossError(
                    f"The {player} loss became NaN or infinite {when}; training stopped, and the "
                    "last checkpoint is from before that."
                )
        self._finite.clear()
        self._checked = step + 1

    # -- validation ---------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.validation_results = []
        self.last_samples = None

    def validation_step(self, index, batch_idx: int) -> None:
        pair = self.trainer.datamodule.validation[int(index)]
        result, volumes = evaluate_pair(self.generator, pair, device=self.device, tile=self.config.validation.tile)
        self.validation_results.append(result)
        if batch_idx == 0 and self.trainer.is_global_zero and self.logger is not None:
            self.last_samples = save_slices(
                Path(self.trainer.default_root_dir) / "samples" / f"step_{self.steps_done:07d}.png",
                pair,
                volumes,
                self.config.validation.sample_slices,
            )

    def on_validation_epoch_end(self) -> None:
        if not self.validation_results:
            return
        table = mean_tables(self.validation_results)
        for method, values in table.items():
            prefix = "val" if method == "model" else "val_cubic"
            for key, value in values.items():
                self.log(f"{prefix}/{key}", value, sync_dist=True, batch_size=1)
        self.log("val_psnr_brain", table["model"]["psnr_brain"], sync_dist=True, batch_size=1)
        self.last_validation = table

    @property
    def steps_done(self) -> int:
        """Generator steps done so far: earlier epochs plus this epoch's batches (Lightning's
        global_step counts the steps of every optimizer; an epoch may be cut by max_time)."""
        batches = self.trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return self.current_epoch * self.config.schedule.steps_per_epoch + batches

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._check_finite(self.steps_done - 1)  # e.g. a run cut by max_time between checks
        checkpoint["validation"] = self.last_validation
        checkpoint["steps_done"] = self.steps_done

    @staticmethod
    def epochs_for(config: TrainConfig) -> int:
        return math.ceil(config.schedule.total_steps / config.schedule.steps_per_epoch)
