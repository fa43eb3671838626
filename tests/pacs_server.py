"""A real PACS for the tests and the docs' screenshots: Orthanc with its DICOMweb plugin, on free
localhost ports, with a temporary storage folder and a password made up for the run."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests

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


@contextmanager
def running_orthanc(folder: Path):
    """Start Orthanc storing in ``folder``; yield its PacsServer (None if Orthanc or its DICOMweb
    plugin is not installed); stop it at the end."""
    from napari_mrisr.dicom.dicomweb import PacsServer

    binary, plugin = shutil.which("Orthanc"), _plugin()
    if binary is None or plugin is None:
        yield None
        return
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
    with open(folder / "orthanc.log", "w") as log:
        process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/system", auth=("radiologist", password), timeout=2).ok:
                        break
                except requests.ConnectionError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-500:]}")
                time.sleep(0.2)
            yield PacsServer(f"http://127.0.0.1:{port}/dicom-web", "radiologist", password)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
