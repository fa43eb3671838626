"""GAN training for 3D MRI super-resolution, the companion of the napari-mrisr plugin.

- :mod:`training.config`: the typed YAML config; presets in ``training/configs``.
- :mod:`training.data`: volumes, slab/volume split, random LR/HR patches (LR made on the fly
  by ``napari_mrisr.degrade``).
- :mod:`training.discriminators`, :mod:`training.losses`: the reference systems' adversaries
  and losses.
- :mod:`training.module`, :mod:`training.engine`: the Lightning module and the fit / export /
  evaluate entry points; :mod:`training.events`: JSON-lines progress.

Run it as ``python -m training fit CONFIG`` (also installed as ``mrisr-train``). It depends on
the ``napari_mrisr`` core and never on Qt.
"""
