"""Load widget: open a NIfTI/MGZ file or the MNI152 sample, optionally simulating an LR acquisition."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    PushButton,
    SpinBox,
)
from napari.layers import Layer
from qtpy.QtWidgets import QWidget

from napari_mrisr._napari.layers import layer_data
from napari_mrisr._napari.orientation import set_convention, show_mri
from napari_mrisr.progress import Progress
from napari_mrisr.volume.comparison import intensity_limits
from napari_mrisr.volume.degrade import DegradationMethod
from napari_mrisr.volume.display import CONVENTIONS, convention
from napari_mrisr.volume.geometry import DIRECTIONS
from napari_mrisr.volume.io import SUFFIXES, Volume, volume_warnings
from napari_mrisr.volume.simulate import load_and_simulate

from .layout import scroll_layout, status_label
from .worker import show_failure, start_worker

if TYPE_CHECKING:
    import napari

__all__ = ["LoadWidget"]

FILE, SAMPLE = "file", "sample"

# Factor spin-box labels per axis direction (shared with the Train widget).
_DIRECTION = DIRECTIONS


class LoadWidget(QWidget):
    """Open a volume (file or sample) and optionally simulate its low-resolution acquisition."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.worker = None
        self.source = ComboBox(
            label="source",
            choices=[("NIfTI / MGZ file", FILE), ("MNI152 T1 sample (1 mm)", SAMPLE)],
            value=FILE,
        )
        patterns = " ".join(f"*{s}" for s in SUFFIXES)
        self.file = FileEdit(label="file", mode="r", filter=f"MRI volumes ({patterns})")
        self.simulate = CheckBox(text="simulate LR acquisition", value=False)
        methods = [m.value for m in DegradationMethod]
        self.method = ComboBox(label="method", choices=methods, value="kspace")
        self.factors = [SpinBox(label=label, min=1, max=8, value=2) for label in ("i", "j", "k")]
        self.noise = FloatSpinBox(label="noise", min=0.0, max=0.2, step=0.005, value=0.0)
        self.noise.tooltip = "Rician noise SD as a fraction of the maximum intensity (fixed seed)."
        self.display = ComboBox(label="display", choices=list(CONVENTIONS), value=convention())
        self.display.tooltip = (
            "radiological: the patient's right on the screen's left (as films are read); "
            "neurological: right on the right. Remembered for next time."
        )
        self.load_button = PushButton(text="Load")
        self.status = status_label()
        self.factor_box = Container(widgets=self.factors, layout="horizontal", label="factors")
        self.factor_box.tooltip = "Downsampling factor along each voxel axis of the file."
        self.container = Container(
            widgets=[
                self.source,
                self.file,
                self.simulate,
                self.method,
                self.factor_box,
                self.noise,
                self.display,
                self.load_button,
                self.status,
            ]
        )
        scroll_layout(self, self.container.native)

        self.source.changed.connect(self._on_source)
        self.simulate.changed.connect(self._on_simulate)
        self.file.changed.connect(self._on_file)
        self.load_button.changed.connect(self.load)
        self.display.changed.connect(lambda name: set_convention(name, self.viewer))
        self._on_source()
        self._on_simulate()

    # -- reactions -------------------------------------------------------------------------
    def _on_source(self) -> None:
        self.file.visible = self.source.value == FILE
        if self.source.value == SAMPLE:
            self._label_axes(("R", "A", "S"))
        else:
            self._on_file()

    def _on_simulate(self) -> None:
        for widget in (self.method, self.factor_box, self.noise):
            widget.enabled = self.simulate.value

    def _on_file(self) -> None:
        """Label the factor boxes with the file's axis directions (reads the header only)."""
        try:
            self._label_axes(nib.aff2axcodes(nib.load(self.file.value).affine))
        except Exception:  # no file chosen yet, or not an image: the load reports it
            self._label_axes(None)

    def _label_axes(self, codes) -> None:
        for spin, default, code in zip(self.factors, "ijk", codes or (None,) * 3, strict=True):
            spin.label = _DIRECTION.get(code, default)

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        """Read the chosen source (and simulate LR) in a worker, then add the layers."""
        if self.source.value == SAMPLE:
            from napari_mrisr.volume.sample import mni152_hr

            source: Path | Volume | None = None
            loader = mni152_hr
        else:
            source, loader = self.file.value, None
            if source is None or not Path(source).is_file():
                show_failure(ValueError("Choose a NIfTI or MGZ file to load."), "Loading")
                return
        kwargs = {
            "simulate": self.simulate.value,
            "method": self.method.value,
            "factors": tuple(spin.value for spin in self.factors),
            "noise": self.noise.value,
        }

        def work():
            yield Progress(0, 1, "reading")
            with volume_warnings() as notes:
                volumes = load_and_simulate(loader() if loader else source, **kwargs)
            for note in notes:
                yield Progress(0, 0, note, warning=True)
            return volumes

        self.load_button.enabled = False
        self.status.value = "loading..."
        self.worker = start_worker(work, "Loading volume", self._add_layers, on_done=self._on_done)

    def _on_done(self, ok: bool) -> None:
        self.worker = None
        self.load_button.enabled = True
        if not ok:
            self.status.value = ""

    def _add_layers(self, volumes: list[tuple[Volume, dict]]) -> None:
        limits = intensity_limits(volumes[0][0])
        added = []
        for volume, metadata in volumes:
            if added and "degradation" in metadata:
                # The HR layer's name as napari made it unique: Compare finds it by this name.
                metadata = {**metadata, "ground_truth": added[0].name}
            layer = Layer.create(*layer_data(volume, metadata=metadata, contrast_limits=limits))
            added.append(self.viewer.add_layer(layer))
        show_mri(self.viewer)
        self.viewer.reset_view()
        # File voxel counts, written without spaces so a wrapped line never splits one.
        shapes = " and ".join("\u00d7".join(map(str, layer.data.shape[::-1])) for layer in added)
        self.status.value = f"added {len(added)} layer{'s' * (len(added) > 1)}: {shapes} voxels"
