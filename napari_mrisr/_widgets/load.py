"""Load widget: open a NIfTI/MGZ file or the MNI152 sample, optionally simulating an LR acquisition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    SpinBox,
)
from napari.layers import Layer
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QWidget

from napari_mrisr._napari.layers import layer_data
from napari_mrisr._napari.orientation import set_convention, show_mri
from napari_mrisr.volume.base import Volume
from napari_mrisr.volume.comparison import intensity_limits
from napari_mrisr.volume.degrade import DegradationMethod
from napari_mrisr.volume.display import CONVENTIONS, convention
from napari_mrisr.volume.io import SUFFIXES

from .choices import replace_choices
from .layout import pinned_rows, scroll_layout
from .run_controls import RunControls
from .state.load import DICOM, FILE, SAMPLE, LoadState
from .worker import show_failure

if TYPE_CHECKING:
    import napari

__all__ = ["LoadWidget"]

class LoadWidget(QWidget):
    """Open a volume (file or sample) and optionally simulate its low-resolution acquisition."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = LoadState()
        self.source = ComboBox(
            label="source",
            choices=[("NIfTI / MGZ file", FILE), ("DICOM series (folder)", DICOM), ("MNI152 T1 sample (1 mm)", SAMPLE)],
            value=FILE,
        )
        patterns = " ".join(f"*{s}" for s in SUFFIXES)
        self.file = FileEdit(label="file", mode="r", filter=f"MRI volumes ({patterns})")
        self.folder = FileEdit(label="folder", mode="d", visible=False)
        self.folder.tooltip = "A folder of DICOM files (a PACS or CD export), or one holding a DICOMDIR."
        self.series = ComboBox(label="series", choices=self._series_choices, visible=False)
        self.series.tooltip = "The folder's series: modality, number, description, orientation, size, spacing."
        self.series.native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.series.native.setMinimumContentsLength(24)  # long descriptions must not widen the dock
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
        self.controls = RunControls(run="Load", cancel="", progress=False)
        self.load_button, self.status = self.controls.run_button, self.controls.status
        self.factor_box = Container(widgets=self.factors, layout="horizontal", label="factors")
        for spin in self.factors:  # one digit each: the row must not set the dock's width
            # napari's style: 70 px and 10 px padding; the digit between the - and + buttons
            spin.native.setStyleSheet("QAbstractSpinBox { min-width: 58px; padding: 1px 0px; }")
            spin.native.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.factor_box.tooltip = "Downsampling factor along each voxel axis of the file."
        self.container = Container(
            widgets=[
                self.source,
                self.file,
                self.folder,
                self.series,
                self.simulate,
                self.method,
                self.factor_box,
                self.noise,
                self.display,
            ]
        )
        scroll_layout(self, self.container.native, pinned=pinned_rows(*self.controls.widgets))

        # The form writes the state; the factor boxes show its axis names.
        self.source.changed.connect(self._on_source)
        self.file.changed.connect(lambda path: setattr(self.state, "path", path))
        self.folder.changed.connect(lambda path: setattr(self.state, "folder", path))
        self.series.changed.connect(lambda index: setattr(self.state, "chosen", index or 0))
        self.state.listed.connect(self._show_series)
        self.simulate.changed.connect(self._on_simulate)
        self.method.changed.connect(lambda value: setattr(self.state, "method", value))
        for spin in self.factors:
            spin.changed.connect(self._on_factors)
        self.noise.changed.connect(lambda value: setattr(self.state, "noise", value))
        self.state.events.axis_labels.connect(self._label_axes)
        self.load_button.changed.connect(self.load)
        self.display.changed.connect(lambda name: set_convention(name, self.viewer))
        self._on_source()
        self._on_simulate()
        self._on_factors()

    @property
    def worker(self):
        """The running worker, or None."""
        return self.controls.job

    # -- reactions -------------------------------------------------------------------------
    def _on_source(self, *_args) -> None:
        self.file.visible = self.source.value == FILE
        self.folder.visible = self.series.visible = self.source.value == DICOM
        self.state.source = self.source.value

    def _series_choices(self, _widget=None) -> list[tuple[str, int]]:
        return [(series.describe(), index) for index, series in enumerate(self.state.series)]

    def _show_series(self) -> None:
        """The folder's series in the list, and what the scan found in the status line."""
        replace_choices(self.series, self.state.chosen)
        self.status.value = self.state.note

    def _on_simulate(self, *_args) -> None:
        self.state.simulate = self.simulate.value
        for widget in (self.method, self.factor_box, self.noise):
            widget.enabled = self.simulate.value

    def _on_factors(self, *_args) -> None:
        self.state.factors = tuple(spin.value for spin in self.factors)

    def _label_axes(self, labels: tuple[str, str, str]) -> None:
        for spin, label in zip(self.factors, labels, strict=True):
            spin.label = label

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        """Read the chosen source (and simulate LR) in a worker, then add the layers."""
        problem = self.state.problem()
        if problem:
            show_failure(ValueError(problem), "Loading")
            return
        self.controls.start(self.state.work, "Loading volume", self._add_layers, status="loading...")

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
