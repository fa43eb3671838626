"""The bundled models: listed, loadable, and better than cubic on the held-out slab they never saw."""

from __future__ import annotations

import pytest

from napari_mrisr import metrics
from napari_mrisr.inference import super_resolve
from napari_mrisr.interpolate import upsample
from napari_mrisr.sample import mni152_hr
from napari_mrisr.training.config import validate_config
from napari_mrisr.training.data import make_validation_pair, split_volumes
from napari_mrisr.zoo import list_models, load_model

SHIPPED = {"mni-x2-iso", "mni-x2-iso-gan", "mni-x4-thick", "mni-x4-thick-gan"}


def test_list_models_returns_the_shipped_models():
    bundled = {info.name for info in list_models() if info.bundled}
    assert SHIPPED <= bundled


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
