"""PACS widget: search a DICOMweb server, open a series as a layer, send a result back beside it.

Requests run in a worker (a slow server never stalls the viewer) with one progress step per
image. The password box is never saved; without it the environment's ``MRISR_PACS_PASSWORD``
(or ``MRISR_PACS_TOKEN``) is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, LineEdit, PushButton
from napari.layers import Image, Layer
from qtpy.QtWidgets import QComboBox, QLineEdit, QWidget

from napari_mrisr._napari.layers import layer_data, layer_volume
from napari_mrisr._napari.orientation import show_mri
from napari_mrisr.progress import Progress

from .choices import rebuild_choices, replace_choices
from .layout import pinned_rows, scroll_layout
from .run_controls import RunControls
from .state.pacs import PacsState, send_description, unfinished_send

if TYPE_CHECKING:
    import napari

__all__ = ["PacsWidget"]


class PacsWidget(QWidget):
    """Open from PACS (search, pick a series, open) and Send to PACS (a result from DICOM)."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = PacsState()
        self.url = LineEdit(label="server", value=self.state.url)
        self.url.tooltip = "The DICOMweb root, e.g. https://pacs.hospital.org/dicom-web (http only on this machine)."
        self.user = LineEdit(label="user", value=self.state.user)
        self.password = LineEdit(label="password")
        self.password.native.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.tooltip = "Never saved. Empty: MRISR_PACS_PASSWORD or MRISR_PACS_TOKEN from the environment."
        self.patient = LineEdit(label="patient")
        self.patient.tooltip = "The start of the patient's name, or the patient ID."
        self.study = LineEdit(label="study")
        self.study.tooltip = "The start of the study description (empty: any)."
        self.modality = LineEdit(label="modality", value=self.state.modality)
        self.search_button = PushButton(text="Search")
        self.found = ComboBox(label="series", choices=self._found_choices)
        self.found.native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.found.native.setMinimumContentsLength(24)
        self.controls = RunControls(run="Open")
        self.send_layer = ComboBox(label="result", choices=self._result_choices)
        self.send_layer.tooltip = "A result of a series opened from DICOM: it goes back as a new series of its study."
        self.send_button = PushButton(text="Send to PACS")
        self.container = Container(
            widgets=[
                self.url, self.user, self.password, self.patient, self.study, self.modality,
                self.search_button, self.found, self.send_layer, self.send_button,
            ]
        )  # fmt: skip
        scroll_layout(self, self.container.native, pinned=pinned_rows(*self.controls.widgets))
        self.open_button, self.status, self.progress = self.controls.run_button, self.controls.status, self.controls.progress

        for name in ("url", "user", "patient", "study", "modality"):
            getattr(self, name).changed.connect(lambda value, name=name: setattr(self.state, name, value))
        self.found.changed.connect(lambda index: setattr(self.state, "chosen", index or 0))
        self.state.listed.connect(self._on_found)
        self.search_button.changed.connect(self.search)
        self.open_button.changed.connect(self.open_series)
        self.send_button.changed.connect(self.send)
        self.controls.ready = False

    @property
    def worker(self):
        """The running worker, or None."""
        return self.controls.job

    def reset_choices(self, *_event) -> None:
        """Re-read the layers a result can be sent from (napari calls this when layers change)."""
        rebuild_choices(self.send_layer)

    def _found_choices(self, _widget=None) -> list[tuple[str, int]]:
        return [(series.describe(), index) for index, series in enumerate(self.state.results)]

    def _result_choices(self, _widget=None) -> list[tuple[str, Image]]:
        """Results (SR layers) of series that came from DICOM, the newest first."""
        layers = [layer for layer in reversed(self.viewer.layers) if isinstance(layer, Image)]
        return [
            (layer.name, layer)
            for layer in layers
            if "model" in layer.metadata and (layer.metadata.get("header") or {}).get("dicom")
        ]

    def _on_found(self) -> None:
        replace_choices(self.found, self.state.chosen)
        self.status.value = self.state.note
        self.controls.ready = bool(self.state.results)

    # -- the three requests, each in the dock's one worker slot ----------------------------------
    def search(self) -> None:
        """Search the server for the series that match (patient, study, modality)."""
        if not self.controls.running:
            self.controls.start(lambda: self.state.search(self.password.value), "Searching the PACS",
                                on_result=self.state.found, status=f"searching {self.state.url}...")  # fmt: skip

    def open_series(self) -> None:
        """Download the chosen series and open it as a layer."""
        if self.controls.running or not self.state.results:
            return
        series = self.state.results[self.state.chosen]
        self.controls.start(lambda: self.state.retrieve(self.password.value), f"Retrieving {series.description}",
                            on_result=self._add_series, status=f"retrieving {series.describe()}...")  # fmt: skip

    def _add_series(self, volume) -> None:
        metadata = {"source": f"PACS {self.state.url}", "series": self.state.results[self.state.chosen].series_uid}
        self.viewer.add_layer(Layer.create(*layer_data(volume, metadata=metadata)))
        show_mri(self.viewer)
        self.viewer.reset_view()
        self.status.value = f"opened {volume.name!r} ({' x '.join(map(str, volume.shape))} voxels)"

    def send(self) -> None:
        """Send the chosen result back to the PACS as a new series beside its source."""
        layer = self.send_layer.value
        if self.controls.running or layer is None:
            return
        volume, description = layer_volume(layer), send_description(layer.metadata)
        latest = Progress(0, 0)  # images sent so far: the send's last event (0 while writing)

        def counted(event: Progress) -> None:
            nonlocal latest
            latest = event

        def ended(ok: bool) -> None:
            # DICOMweb cannot take instances back: a send stopped midway leaves part of the
            # series on the server, which the user must hear of (and delete there).
            if not ok:
                cancelled = self.controls.cancel_requested()
                self.status.value = unfinished_send(latest, description, cancelled)

        self.controls.start(lambda: self.state.send(volume, description, self.password.value), "Sending to the PACS",
                            on_result=lambda n: setattr(self.status, "value", f"sent {n} images as {description!r}"),
                            status=f"sending {layer.name}...",
                            on_progress=counted, on_done=ended)  # fmt: skip
