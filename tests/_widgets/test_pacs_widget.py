"""The radiologist's round trip in napari: open a series from the PACS, super-resolve it, send the
result back; and a DICOM folder's series picked in the Load dock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_mrisr.dicom.dicomweb import iter_store, search_series
from napari_mrisr.progress import run_to_end

from ..dicom.helpers import write_series
from ..dicom.test_reading import FLIP
from ..phantoms import head_phantom
from .helpers import TIMEOUT_MS, dock, wait_idle


@pytest.fixture
def stored(orthanc, tmp_path):
    """A thick-slice series stored on the test PACS."""
    server, _ = orthanc
    data = (head_phantom((20, 22, 8)) * 10).round()
    folder = write_series(data, np.diag([1.0, 1.0, 4.0, 1.0]) @ FLIP, tmp_path / "scan", thickness=4.0,
                          PatientName="Widget^Test", PatientID="WT-1", SeriesDescription="T2 axial 4mm")  # fmt: skip
    run_to_end(iter_store(server, sorted(folder.iterdir())))
    return server


def open_and_super_resolve(viewer, qtbot, server):
    """The stored series searched for, opened from the PACS and super-resolved (baseline) in
    the docks: the PACS dock, ready to send the result."""
    from napari_mrisr._widgets.pacs import PacsWidget
    from napari_mrisr._widgets.super_resolve import SuperResolveWidget
    from napari_mrisr.predict.method import BASELINE

    pacs = dock(viewer, PacsWidget)
    pacs.url.value, pacs.user.value, pacs.password.value = server.url, server.user, server.password
    pacs.patient.value = "widget"
    pacs.search()
    qtbot.waitUntil(lambda: bool(pacs.state.results), timeout=TIMEOUT_MS)
    wait_idle(qtbot, pacs)
    assert "series found" in pacs.status.value and pacs.open_button.enabled
    # the PACS is shared: earlier tests' results are there too
    scans = [series.description for series in pacs.state.results]
    pacs.found.native.setCurrentIndex(scans.index("T2 axial 4mm"))
    assert pacs.found.native.currentText().startswith("Widget^Test (WT-1)")
    pacs.open_series()
    qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=TIMEOUT_MS)
    wait_idle(qtbot, pacs)
    layer = viewer.layers[0]
    assert layer.name == "T2 axial 4mm" and layer.metadata["header"]["dicom"]["PatientID"] == "WT-1"

    sr = dock(viewer, SuperResolveWidget)
    sr.model.value = next(c for c in sr.model.choices if getattr(c, "name", "") == BASELINE)
    sr.run()
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=TIMEOUT_MS)
    wait_idle(qtbot, sr)
    pacs.reset_choices()
    assert pacs.send_layer.value is viewer.layers[1]  # the result, from a DICOM series
    return pacs


SENT = "SR x2 cubic interpolation (baseline) (napari-mrisr 0.1.0)"[:64]


def test_open_from_pacs_super_resolve_and_send_back(make_napari_viewer, qtbot, stored, errors):
    pacs = open_and_super_resolve(make_napari_viewer(), qtbot, stored)
    pacs.send()
    qtbot.waitUntil(lambda: pacs.status.value.startswith("sent"), timeout=TIMEOUT_MS)
    wait_idle(qtbot, pacs)
    described = {s.description for s in search_series(stored, patient="Widget")}
    assert described == {"T2 axial 4mm", SENT}
    assert not errors()


def test_a_send_cancelled_midway_says_what_the_pacs_now_holds(
    make_napari_viewer, qtbot, stored, monkeypatch
):
    # DICOMweb cannot take stored images back: the status must say the series is incomplete.
    from dicomweb_client.api import DICOMwebClient

    from napari_mrisr.dicom import dicomweb

    pacs = open_and_super_resolve(make_napari_viewer(), qtbot, stored)
    store = DICOMwebClient.store_instances

    def slow(client, datasets, *args, **kwargs):  # one image a request, each taking a while
        time.sleep(0.2)
        return store(client, datasets, *args, **kwargs)

    before = {s.series_uid for s in search_series(stored, patient="Widget")}  # the PACS is shared
    monkeypatch.setattr(dicomweb, "STORE_BATCH", 1)
    monkeypatch.setattr(DICOMwebClient, "store_instances", slow)
    pacs.send()
    qtbot.waitUntil(lambda: pacs.controls.progress.value >= 2, timeout=TIMEOUT_MS)
    pacs.controls.cancel()
    wait_idle(qtbot, pacs)
    (sent,) = (s for s in search_series(stored, patient="Widget") if s.series_uid not in before)
    assert sent.description == SENT
    total = pacs.controls.progress.max
    assert 2 <= sent.images < total
    assert pacs.status.value == (
        f"cancelled after sending {sent.images} of {total} images: the PACS now holds an "
        f"incomplete series {SENT!r}; delete it there"
    )


def test_a_wrong_password_is_one_notification_and_opens_nothing(make_napari_viewer, qtbot, stored, errors):
    from napari_mrisr._widgets.pacs import PacsWidget

    viewer = make_napari_viewer()
    pacs = dock(viewer, PacsWidget)
    pacs.url.value, pacs.user.value, pacs.password.value = stored.url, stored.user, "wrong"
    pacs.search()
    qtbot.waitUntil(lambda: pacs.worker is None and pacs.status.value.startswith("failed"), timeout=TIMEOUT_MS)
    assert errors() == [f"Searching on {stored.url} failed: it refused the user name, password or token."]
    assert not pacs.open_button.enabled and len(viewer.layers) == 0


def test_the_load_dock_lists_a_folders_series_and_opens_the_one_picked(make_napari_viewer, qtbot, tmp_path):
    from napari_mrisr._widgets.load import LoadWidget
    from napari_mrisr._widgets.state.load import DICOM

    data = (head_phantom((12, 10, 6)) * 10).round()
    write_series(data, np.diag([1.0, 1.0, 3.0, 1.0]) @ FLIP, tmp_path / "cd" / "a", SeriesNumber=2, SeriesDescription="T1")
    write_series(data[:, :, :4], np.diag([1.0, 1.0, 5.0, 1.0]) @ FLIP, tmp_path / "cd" / "b", SeriesNumber=7, SeriesDescription="FLAIR")
    viewer = make_napari_viewer()
    load = dock(viewer, LoadWidget)
    load.source.value = DICOM
    load.folder.value = tmp_path / "cd"
    assert [load.series.native.itemText(i) for i in range(load.series.native.count())] == [
        "MR 2  T1  axial, 6 x 10 x 12, 1 x 1 mm, 3 mm thick",
        "MR 7  FLAIR  axial, 4 x 10 x 12, 1 x 1 mm, 5 mm thick",
    ]
    load.series.value = 1
    load.load()
    qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=TIMEOUT_MS)
    assert viewer.layers[0].name == "FLAIR" and viewer.layers[0].data.shape[0] == 4


def test_a_new_search_shows_its_own_series_and_opens_the_one_shown(make_napari_viewer):
    """Two searches with as many series each: the list shows the second search's series, its
    first chosen, and Open opens that one, never the old pick's position in the new list."""
    from napari_mrisr._widgets.pacs import PacsWidget
    from napari_mrisr.dicom.dicomweb import PacsSeries

    def search(patient: str) -> list[PacsSeries]:
        return [PacsSeries("1.2", f"1.2.{patient}.{n}", patient, patient, modality="MR", description=f"series {n}",
                           number=str(n)) for n in range(3)]  # fmt: skip

    pacs = dock(make_napari_viewer(), PacsWidget)
    pacs.state.found(search("Ann"))
    pacs.found.value = 2
    assert pacs.state.chosen == 2
    pacs.state.found(search("Bob"))
    shown = [pacs.found.native.itemText(i) for i in range(pacs.found.native.count())]
    assert shown == [series.describe() for series in pacs.state.results] and "Bob" in shown[0]
    assert pacs.found.native.currentIndex() == 0 and pacs.state.chosen == 0
    assert pacs.state.results[pacs.state.chosen].series_uid == "1.2.Bob.0"


def test_another_folder_with_as_many_series_lists_its_own(make_napari_viewer, tmp_path):
    from napari_mrisr._widgets.load import LoadWidget
    from napari_mrisr._widgets.state.load import DICOM

    data = (head_phantom((12, 10, 6)) * 10).round()
    for folder, names in (("one", ("T1", "FLAIR")), ("two", ("DWI", "SWI"))):
        for number, name in enumerate(names, 1):
            write_series(data, np.diag([1.0, 1.0, 3.0, 1.0]) @ FLIP, tmp_path / folder / name, SeriesNumber=number,
                         SeriesDescription=name)  # fmt: skip
    load = dock(make_napari_viewer(), LoadWidget)
    load.source.value = DICOM
    load.folder.value = tmp_path / "one"
    load.series.value = 1
    load.folder.value = tmp_path / "two"
    shown = [load.series.native.itemText(i) for i in range(load.series.native.count())]
    assert [text.split()[2] for text in shown] == ["DWI", "SWI"]
    assert load.series.native.currentIndex() == 0 and load.state.chosen == 0
