"""The PACS dock's screenshot: a thick-slice series opened from a real PACS (Orthanc), the series
list visible, its super-resolved result beside it, and the result sent back.

    QT_API=pyqt6 xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshot_pacs.py

The series is the MNI152 sample's simulated 4 mm axial acquisition, written as DICOM of a made-up
patient and stored in an Orthanc started for the run (Debian: orthanc orthanc-dicomweb).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_mrisr._napari.viewer import grid
    from napari_mrisr._widgets.pacs import PacsWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr.cli.demo import close_notifications
    from napari_mrisr.dicom.dicomweb import iter_store
    from napari_mrisr.progress import run_to_end
    from napari_mrisr.volume.sample import mni152_lr_thick_x4
    from tests.dicom.helpers import write_series
    from tests.pacs_server import running_orthanc

    def wait(condition, seconds=600) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            QApplication.processEvents()
            time.sleep(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError("the PACS flow did not finish")

    with tempfile.TemporaryDirectory() as work, running_orthanc(Path(work)) as server:
        if server is None:
            print("Orthanc is not installed (Debian: orthanc orthanc-dicomweb)")
            return 1
        lr = mni152_lr_thick_x4()
        scanner = write_series(lr.data.round(), lr.affine, Path(work) / "scanner", PatientName="Demo^Patient",
                               PatientID="DEMO-7", SeriesNumber=4, SeriesDescription="T1 axial 4 mm")  # fmt: skip
        run_to_end(iter_store(server, sorted(scanner.iterdir())))

        viewer = napari.Viewer(title="napari-mrisr: PACS", show=True)
        viewer.window._qt_window.resize(1600, 1000)
        sr = SuperResolveWidget(viewer)
        viewer.window.add_dock_widget(sr, name="Super-resolve", area="right")
        pacs = PacsWidget(viewer)
        pacs_dock = viewer.window.add_dock_widget(pacs, name="PACS (DICOMweb)", area="right", tabify=True)
        pacs.url.value, pacs.user.value, pacs.password.value = server.url, server.user, server.password
        pacs.patient.value = "demo"
        pacs.search()
        wait(lambda: pacs.worker is None and pacs.state.results)
        pacs.open_series()
        wait(lambda: pacs.worker is None and len(viewer.layers) == 1)
        sr.refresh_models()
        sr.model.value = next(c for c in sr.model.choices if getattr(c, "name", "") == "mni-x4-thick")
        sr.run()
        wait(lambda: sr.worker is None and len(viewer.layers) == 2)
        pacs.reset_choices()
        pacs.send()
        wait(lambda: pacs.worker is None and pacs.status.value.startswith("sent"))
        pacs.search()  # the list now shows the result beside its source
        wait(lambda: pacs.worker is None and len(pacs.state.results) == 2)
        pacs_dock.raise_()
        for _ in range(10):
            QApplication.processEvents()
            time.sleep(0.05)
        pacs.found.native.showPopup()  # the series list, open, as a radiologist sees it
        viewer.dims.order = (1, 0, 2)  # coronal: across the thick slices
        viewer.dims.set_point(1, 0.0)
        grid(viewer).enabled = True
        viewer.reset_view()
        for _ in range(30):
            QApplication.processEvents()
            time.sleep(0.05)
        close_notifications()
        out = ROOT / "docs" / "widget_pacs.png"
        shot = QApplication.primaryScreen().grabWindow(0)  # the open list is a window of its own
        shot.save(str(out))
        print(f"saved {out}: {pacs.status.value}")
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
