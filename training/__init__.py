"""GAN training for 3D MRI super-resolution, the companion of the napari-mrisr plugin.

- :mod:`napari_mrisr.training.config`: the typed YAML config; presets in ``training/configs``.
- :mod:`napari_mrisr.training.data`: volumes, slab/volume split, random LR/HR patches (LR made on the fly
  by ``napari_mrisr.volume.degrade``, in CPU workers); :mod:`napari_mrisr.training.data.device`: the same
  batches made on the training device (``napari_mrisr.volume.degrade_torch``).
- :mod:`napari_mrisr.training.discriminators`, :mod:`napari_mrisr.training.losses`: the reference systems' adversaries
  and losses.
- :mod:`napari_mrisr.training.module`, :mod:`napari_mrisr.training.engine`: the Lightning module and the fit / export /
  evaluate entry points; :mod:`napari_mrisr.training.events`: JSON-lines progress.

Run it as ``python -m napari_mrisr.training fit CONFIG`` (also installed as ``mrisr-train``). It depends on
the ``napari_mrisr`` core and never on Qt.
"""
