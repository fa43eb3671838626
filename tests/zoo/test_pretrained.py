"""The bundled models: listed, loadable, and better than cubic on the held-out slab they never saw."""

from __future__ import annotations

import pytest

from napari_mrisr.engine.inference import super_resolve
from napari_mrisr.training.config import load_config, validate_config
from napari_mrisr.training.data.volumes import make_validation_pair, split_volumes
from napari_mrisr.volume import metrics
from napari_mrisr.volume.interpolate import upsample
from napari_mrisr.volume.sample import mni152_hr
from napari_mrisr.zoo.folders import list_models
from napari_mrisr.zoo.model_file import load_model

SHIPPED = {"mni-x2-iso", "mni-x4-thick", "mni-x4-thick-gan", "mni-x2-iso-full", "mni-x2-iso-full-gan", "mni-x4-thick-full"}


def test_list_models_returns_the_shipped_models():
    bundled = {info.name for info in list_models() if info.bundled}
    assert SHIPPED <= bundled


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_beats_cubic_on_its_held_out_slab(name):
    model = load_model(name)
    config = validate_config(model.meta["training"]["config"])
    factors = tuple(config.degradation.factors)
    # The slab the model's own training run held out (slab split of the MNI152 sample).
    _, (slab,) = split_volumes([mni152_hr()], config.data, factors, config.seed)
    pair = make_validation_pair(slab, config.degradation)
    sr = super_resolve(pair.lr, model)
    cubic = upsample(pair.lr, factors, order="cubic")
    gain = metrics.psnr(sr, pair.hr, mask=pair.mask) - metrics.psnr(cubic, pair.hr, mask=pair.mask)
    assert gain > 0.05, f"{name}: {gain:+.2f} dB vs cubic"
    assert model.meta["metrics"]["validation"]["model"]["psnr_brain"] > model.meta["metrics"]["validation"]["cubic"]["psnr_brain"]


@pytest.mark.parametrize("native_bf16", [False, True])
def test_demo_model_is_compact_on_an_fp32_cpu_and_full_on_a_bf16_cpu_or_a_gpu(monkeypatch, native_bf16):
    import torch

    from napari_mrisr.zoo import model_choice
    from napari_mrisr.zoo.model_choice import best_bundled_model

    monkeypatch.setattr(model_choice, "native_bf16", lambda device: native_bf16)
    full = "-full" if native_bf16 else ""  # the -full models are several times slower in fp32
    assert best_bundled_model(device="cpu").name == f"mni-x2-iso{full}"
    assert best_bundled_model("thick_slice", (1, 1, 4), device="cpu").name == f"mni-x4-thick{full}"
    monkeypatch.setattr(model_choice, "pick_device", lambda device="auto": torch.device("cuda"))
    assert best_bundled_model().name == "mni-x2-iso-full"
    assert best_bundled_model("thick_slice", (1, 1, 4)).name == "mni-x4-thick-full"


def test_a_gan_is_never_the_default_even_with_a_higher_recorded_psnr():
    # The shipped x4 GAN's file records 32.02 dB, the content model's 31.83 (validated with 1%
    # noise, half its recipe's): the default must still be the model whose intensities can be measured.
    from napari_mrisr.zoo.model_choice import preference

    def meta(discriminator: str, psnr: float) -> dict:
        return {
            "training": {"config": {"discriminator": {"architecture": discriminator}}},
            "metrics": {"validation": {"model": {"psnr_brain": psnr}}},
        }

    for full in (False, True):
        assert preference("content", meta("none", 30.0), full) > preference("gan", meta("patch", 31.0), full)
    assert preference("gan", meta("patch", 31.0), full=False) > preference("x-full", meta("none", 35.0), full=False)


STAGED = {
    "mni-x2-iso-full": ("mni_x2_iso_robust", "mni_x2_iso_full", "mni_x2_iso_full_clean", "mni_x2_iso_full_consistency"),
    "mni-x2-iso": ("mni_x2_iso", "mni_x2_iso_consistency"),
    "mni-x4-thick": ("mni_x4_thick", "mni_x4_thick_long", "mni_x4_thick_robust_compact", "mni_x4_thick_real"),
    "mni-x4-thick-full": (
        "mni_x4_thick_robust",
        "mni_x4_thick_full",
        "mni_x4_thick_full_nominal",
        "mni_x4_thick_full_real",
        "mni_x4_thick_full_family",
    ),
}


@pytest.mark.parametrize("name", sorted(STAGED))
def test_staged_models_record_each_stage_as_its_preset_says(name):
    meta = load_model(name).meta
    training, presets = meta["training"], [load_config(p) for p in STAGED[name]]
    assert [(s["stage"], s["preset"]) for s in training["stages"]] == list(enumerate(STAGED[name], start=1))
    for previous, recipe in zip(presets[:-1], presets[1:], strict=True):  # each starts from the one before
        assert recipe.generator.init_weights == f"runs/{previous.name}/{previous.name}.safetensors"
    for stage, recipe in zip(training["stages"], presets, strict=True):
        config = validate_config(stage.get("config", training["config"]))
        assert stage["steps"] > 0 and config.generator.options == recipe.generator.options
        if recipe.trainer.max_time is None:  # stopped by its step count: it ran all of them
            assert stage["steps"] == recipe.schedule.total_steps
    assert training["steps"] == training["stages"][-1]["steps"]
    embedded = validate_config(training["config"]).model_dump(mode="json")
    recipe = presets[-1].model_dump(mode="json")
    for doc in (embedded, recipe):  # where the run was written and its copy of the start file
        del doc["name"], doc["output_dir"], doc["generator"]["init_weights"]
    assert embedded == recipe
    assert (meta.get("storage") == "float16") == name.endswith("-full")


@pytest.mark.parametrize("name", ["mni-x2-iso-full-gan", "mni-x4-thick-gan"])
def test_gan_files_embed_the_recipe_of_their_preset_and_ran_all_of_it(name):
    training = load_model(name).meta["training"]
    embedded = validate_config(training["config"]).model_dump(mode="json")
    preset = load_config(name.replace("-", "_")).model_dump(mode="json")
    for doc in (embedded, preset):  # where the run was written, not how it trained
        del doc["name"], doc["output_dir"]
    assert embedded == preset
    assert training["steps"] == load_config(name.replace("-", "_")).schedule.total_steps
