"""GAN training for 3D MRI super-resolution (coming next).

This package will hold the data pipeline (HR patches, LR made on the fly by
`napari_mrisr.degrade`), the discriminators and losses of the reference systems, and a
Lightning engine with checkpoints, resume and multi-GPU DDP, run as `python -m training`.
It depends on the `napari_mrisr` core and never on Qt.
"""
