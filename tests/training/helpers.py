"""Training runs shrunk to seconds: tiny networks on the phantom subjects, a few steps."""

from __future__ import annotations

from napari_mrisr.training.config import load_config, validate_config

# Small options per architecture, so every preset runs a few steps in seconds.
TINY_GENERATORS = {
    "srgan3d": {"features": 4, "num_blocks": 1},
    "edsr3d": {"features": 4, "num_blocks": 1},
    "rrdb3d": {"features": 4, "num_blocks": 1, "growth": 4},
    "dcsrn": {"growth": 4, "num_blocks": 1, "layers_per_block": 2},
    "srgan2d": {"features": 4, "num_blocks": 1, "upsample_features": 4},
}
TINY_DISCRIMINATORS = {
    "srgan": {"features": 2, "hidden": 8},
    "patch": {"features": 2, "num_blocks": 2},
    "wavelet": {"features": 2},
    "wgan": {"features": 2},
}


def tiny_config(tmp_path, data_dir, preset="tiny", **sections):
    """A preset shrunk to a few steps on the phantoms, with any section fields overridden."""
    config = load_config(preset)
    doc = config.model_dump(mode="json")
    g, d = doc["generator"], doc["discriminator"]
    g["options"] = {**g["options"], **TINY_GENERATORS[g["architecture"]]}
    g["init_weights"] = None  # a fine-tuning preset's file has the full width (fine-tuning has its own test)
    if d["architecture"] != "none":
        d["options"] = {**d["options"], **TINY_DISCRIMINATORS[d["architecture"]]}
    factors = doc["degradation"]["factors"]
    doc["data"].update(
        paths=[str(data_dir)],
        patch_size=[8 if f == 1 and doc["generator"]["architecture"] == "srgan2d" else 16 for f in factors],
        batch_size=2,
        num_workers=0,
    )
    doc["schedule"].update(pretrain_steps=2, adversarial_steps=2 if d["architecture"] != "none" else 0, steps_per_epoch=2, log_every=1)
    doc["output_dir"] = str(tmp_path / "runs")
    doc["validation"].update(tile=16, sample_slices=1)
    doc["trainer"]["accelerator"] = "cpu"
    for section, fields in sections.items():
        if isinstance(fields, dict):
            doc[section].update(fields)
        else:
            doc[section] = fields
    return validate_config(doc)
