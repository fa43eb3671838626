"""A round trip with a real PACS (Orthanc over DICOMweb): store, search, retrieve, super-resolve,
send the result back, read it again from the server; no credential in any file or message."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from napari_mrisr.dicom import load_series
from napari_mrisr.dicom.dicomweb import (
    PacsError,
    PacsServer,
    iter_retrieve,
    iter_store,
    search_series,
)
from napari_mrisr.dicom.writing import save_series, series_description
from napari_mrisr.predict.method import BASELINE, Method, iter_run
from napari_mrisr.progress import run_to_end

from ..phantoms import head_phantom
from .helpers import write_series
from .test_reading import FLIP


def test_store_search_retrieve_super_resolve_send_and_read_back(orthanc, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    server, _ = orthanc
    data = (head_phantom((16, 18, 6)) * 10).round()
    source = write_series(data, np.diag([1.0, 1.0, 4.0, 1.0]) @ FLIP, tmp_path / "scanner", thickness=3.0,
                          PatientName="Round^Trip", PatientID="RT-1", SeriesDescription="T1 axial 4mm")  # fmt: skip
    events = []
    assert run_to_end(iter_store(server, sorted(source.iterdir())), events.append) == 6
    assert events[-1].done == events[-1].total == 6

    (found,) = search_series(server, patient="round", modality="MR")  # a name prefix, any case
    assert found.description == "T1 axial 4mm" and found.images == 6 and found.patient_id == "RT-1"
    assert search_series(server, patient="RT-1") == [found]  # or the patient's ID
    folder = run_to_end(iter_retrieve(server, found, tmp_path / "retrieved"))
    lr = load_series(folder)
    np.testing.assert_allclose(lr.affine, np.diag([1.0, 1.0, 4.0, 1.0]) @ FLIP, atol=1e-4)

    result = run_to_end(iter_run(lr, Method(BASELINE), factors=(1, 1, 4)))
    description = series_description((1, 1, 4), "cubic")
    derived = save_series(result.volume, tmp_path / "derived", description, lr.header["dicom"])
    run_to_end(iter_store(server, sorted(derived.iterdir())))

    both = search_series(server, patient="Round")
    assert sorted(s.description for s in both) == sorted(["T1 axial 4mm", description])
    (back,) = [s for s in both if s.description == description]
    assert back.study_uid == found.study_uid and back.series_uid != found.series_uid
    stored = load_series(run_to_end(iter_retrieve(server, back, tmp_path / "back")))
    np.testing.assert_allclose(stored.affine, result.volume.affine, atol=1e-4)
    assert stored.shape == result.volume.shape == (16, 18, 24)

    # No credential in any file this run wrote, in its log records or on its terminal.
    secret = server.password
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    out, err = capsys.readouterr()
    assert secret not in caplog.text + out + err + repr(server)


def test_a_wrong_password_is_one_sentence_without_the_password(orthanc):
    server, _ = orthanc
    wrong = PacsServer(server.url, server.user, "not-the-password")
    with pytest.raises(PacsError, match="refused the user name, password or token") as refused:
        search_series(wrong)
    assert "not-the-password" not in str(refused.value)


def test_a_server_that_does_not_answer_is_one_sentence():
    with pytest.raises(PacsError, match="no answer from http://127.0.0.1:9/dicom-web"):
        search_series(PacsServer("http://127.0.0.1:9/dicom-web", "a", "b"))


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("http://pacs.hospital.example/dicom-web", "use https"),
        ("https://alice:pw@pacs.hospital.example/dicom-web", "Put no user name or password in the address"),
        ("pacs.hospital.example", "is not a DICOMweb address"),
    ],
)
def test_addresses_that_would_leak_data_or_passwords_are_refused(url, sentence):
    with pytest.raises(PacsError, match=sentence):
        PacsServer(url)


def test_credentials_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MRISR_PACS_USER", "alice")
    monkeypatch.setenv("MRISR_PACS_PASSWORD", "from-env")
    server = PacsServer.from_environment("https://pacs.hospital.example/dicom-web/")
    assert (server.url, server.user, server.password) == ("https://pacs.hospital.example/dicom-web", "alice", "from-env")
    assert "from-env" not in repr(server)


def test_a_typed_password_wins_over_a_token_in_the_environment(orthanc, monkeypatch):
    # The dock's password box beats MRISR_PACS_TOKEN: sending the token instead (a stale one
    # here) would have Orthanc refuse what the user typed right.
    from napari_mrisr._widgets.state.pacs import PacsState

    server, _ = orthanc
    monkeypatch.setenv("MRISR_PACS_TOKEN", "a-stale-token")
    state = PacsState(url=server.url, user=server.user)
    assert isinstance(run_to_end(state.search(server.password)), list)
    with pytest.raises(PacsError, match="refused the user name, password or token"):
        run_to_end(state.search(""))  # nothing typed: the environment's token is sent
