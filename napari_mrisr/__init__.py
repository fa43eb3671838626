"""3D MRI super-resolution for napari."""

__version__ = "0.1.0"
