"""A real PACS for the tests: Orthanc with its DICOMweb plugin, on free localhost ports, with a
temporary storage folder and a password made up for the session; stopped at the end."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from napari_mrisr.dicom.dicomweb import PacsServer

#: Where Debian's orthanc-dicomweb package puts the plugin.
PLUGIN_FOLDERS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plugin() -> Path | None:
    for folder in PLUGIN_FOLDERS:
        found = sorted(Path(folder).glob("libOrthancDicomWeb.so*")) if Path(folder).is_dir() else []
        if found:
            return found[0]
    return None


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A running Orthanc (PacsServer with its credentials) and the folder it logs and stores in."""
    binary, plugin = shutil.which("Orthanc"), _plugin()
    if binary is None or plugin is None:
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)")
    folder = tmp_path_factory.mktemp("orthanc")
    password = secrets.token_urlsafe(12)
    port = _free_port()
    config = {
        "Name": "mrisr-test",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpPort": port,
        "DicomPort": _free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"radiologist": password},
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "w")  # noqa: SIM115 (open while Orthanc runs)
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    server = PacsServer(f"http://127.0.0.1:{port}/dicom-web", "radiologist", password)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/system", auth=("radiologist", password), timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-500:]}")
        time.sleep(0.2)
    try:
        yield server, folder
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
