"""A PACS over DICOMweb: search series (QIDO-RS), retrieve one (WADO-RS), store a series (STOW-RS).

dicomweb-client speaks the protocol; here are what a radiologist's workstation needs around it:
the server's address checked (https, unless the server is on this machine), credentials taken
from the environment or typed, kept in memory only and never in a message, and every failure
of the network or the server as one sentence. Retrieving and storing are generators that
report one step per image, so a widget shows progress and can cancel between images.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
import requests
from pydicom.dataset import Dataset

from napari_mrisr.progress import Progress, ProgressGenerator

__all__ = [
    "PacsError",
    "PacsSeries",
    "PacsServer",
    "iter_retrieve",
    "iter_store",
    "search_series",
]

#: Environment variables holding the credentials (never written anywhere by this package).
USER_VARIABLE, PASSWORD_VARIABLE, TOKEN_VARIABLE = "MRISR_PACS_USER", "MRISR_PACS_PASSWORD", "MRISR_PACS_TOKEN"
#: Hosts reached without leaving this machine: the only ones plain http may talk to.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
#: Images sent per STOW-RS request.
STORE_BATCH = 16


class PacsError(ValueError):
    """A PACS that cannot be used as asked; the message says why in one sentence."""


class _Session(requests.Session):
    """requests, sending DICOM's ``*`` wildcard as it is: some servers (Orthanc) match nothing
    when it arrives percent-encoded, though RFC 3986 lets a query carry it either way."""

    def prepare_request(self, request):
        prepared = super().prepare_request(request)
        prepared.url = prepared.url.replace("%2A", "*")
        return prepared


@dataclass(frozen=True)
class PacsServer:
    """A DICOMweb service root (e.g. ``https://pacs.example.org/dicom-web``) and how to log in.

    The password and token live in this object only (``repr`` hides them).
    """

    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", check_url(self.url))

    def __repr__(self) -> str:
        return f"PacsServer(url={self.url!r}, user={self.user!r})"

    @classmethod
    def from_environment(cls, url: str) -> PacsServer:
        """Credentials from ``MRISR_PACS_USER``/``MRISR_PACS_PASSWORD`` or ``MRISR_PACS_TOKEN``."""
        return cls(url, os.environ.get(USER_VARIABLE), os.environ.get(PASSWORD_VARIABLE), os.environ.get(TOKEN_VARIABLE))

    def client(self):
        from dicomweb_client.api import DICOMwebClient

        session = _Session()
        if self.token:
            session.headers["Authorization"] = f"Bearer {self.token}"
        elif self.user:
            session.auth = (self.user, self.password or "")
        client = DICOMwebClient(self.url, session=session, timeout=(10, 120))
        # One quick retry of a busy server; an address that does not answer is said at once.
        client.set_http_retry_params(retry=True, max_attempts=2, wait_exponential_multiplier=250,
                                     retriable_error_codes=(429, 503, 504))  # fmt: skip
        return client


def check_url(url: str) -> str:
    """The service root, refused in one sentence unless it is https or on this machine, and
    never with credentials inside it."""
    url = str(url).strip().rstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise PacsError(f"{url!r} is not a web address.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PacsError(f"{url!r} is not a DICOMweb address (https://host/dicom-web).")
    if parts.username or parts.password:
        raise PacsError(
            "Put no user name or password in the address; give them in "
            f"{USER_VARIABLE}/{PASSWORD_VARIABLE} (or {TOKEN_VARIABLE}), or when asked."
        )
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise PacsError(
            f"{parts.hostname} is reached over plain http, which would send patient data and "
            "passwords unencrypted; use https (plain http only for a server on this machine)."
        )
    return url


def _failure(server: PacsServer, what: str, exc: Exception) -> PacsError:
    """One sentence for a failed request, with no credential in it."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        reasons = {401: "it refused the user name, password or token", 403: "it does not allow this user to do that",
                   404: "it has no such service or object (is the address the DICOMweb root?)"}  # fmt: skip
        reason = reasons.get(code, f"it answered HTTP {code}")
        return PacsError(f"{what} on {server.url} failed: {reason}.")
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return PacsError(f"{what} failed: no answer from {server.url} (is the address right and the server up?).")
    return PacsError(f"{what} on {server.url} failed ({type(exc).__name__}).")


@dataclass(frozen=True)
class PacsSeries:
    """A series a search found: what a PACS list shows, and the UIDs to retrieve it by."""

    study_uid: str
    series_uid: str
    patient: str = ""
    patient_id: str = ""
    study_date: str = ""
    study: str = ""
    modality: str = ""
    description: str = ""
    number: str = ""
    images: int = 0

    def describe(self) -> str:
        date = f"{self.study_date[:4]}-{self.study_date[4:6]}-{self.study_date[6:8]}" if len(self.study_date) == 8 else self.study_date
        return (
            f"{self.patient} ({self.patient_id})  {date}  {self.modality} {self.number}  "
            f"{self.description or '(no description)'}  {self.images} images"
        )


_FIELDS = ["PatientName", "PatientID", "StudyDate", "StudyDescription", "Modality", "SeriesDescription",
           "SeriesNumber", "NumberOfSeriesRelatedInstances"]  # fmt: skip


def search_series(server: PacsServer, patient: str = "", study: str = "", modality: str = "") -> list[PacsSeries]:
    """Series whose patient name or ID starts with ``patient``, whose study description starts
    with ``study`` and whose modality is ``modality`` (empty: any)."""
    filters = {}
    if modality:
        filters["Modality"] = modality.strip().upper()
    if study:
        filters["StudyDescription"] = f"{study.strip()}*"
    searches = [filters]
    if patient:  # a name, or an ID: ask for both
        searches = [{**filters, "PatientName": f"{patient.strip()}*"}, {**filters, "PatientID": patient.strip()}]
    client = server.client()
    found: dict[str, PacsSeries] = {}
    try:
        for query in searches:
            for item in client.search_for_series(search_filters=query, fields=_FIELDS):
                entry = _series(Dataset.from_json(item))
                found.setdefault(entry.series_uid, entry)
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise _failure(server, "Searching", exc) from exc
    return sorted(found.values(), key=lambda s: (s.patient, s.study_date, int(s.number) if s.number.isdigit() else 0))


def _series(ds: Dataset) -> PacsSeries:
    def text(key: str) -> str:
        value = ds.get(key)
        return "" if value is None else str(value)

    return PacsSeries(
        study_uid=text("StudyInstanceUID"),
        series_uid=text("SeriesInstanceUID"),
        patient=text("PatientName"),
        patient_id=text("PatientID"),
        study_date=text("StudyDate"),
        study=text("StudyDescription"),
        modality=text("Modality"),
        description=text("SeriesDescription"),
        number=text("SeriesNumber"),
        images=int(ds.get("NumberOfSeriesRelatedInstances") or 0),
    )


def iter_retrieve(server: PacsServer, series: PacsSeries, folder: str | os.PathLike) -> ProgressGenerator[Path]:
    """Download a series' images into ``folder`` (one file each), yielding one step per image;
    returns the folder (read it with :func:`~napari_mrisr.dicom.reading.load_series`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    client = server.client()
    total = max(series.images, 1)
    yield Progress(0, total, f"retrieving {series.description or series.series_uid}")
    count = 0
    try:
        for dataset in client.iter_series(series.study_uid, series.series_uid):
            count += 1
            dataset.save_as(folder / f"{count:05d}.dcm", enforce_file_format=True)
            yield Progress(count, max(total, count), f"image {count} of {max(total, count)}")
    except (requests.RequestException, ValueError) as exc:
        raise _failure(server, "Retrieving the series", exc) from exc
    if not count:
        raise PacsError(f"{server.url} returned no images for series {series.describe()!r}.")
    return folder


def iter_store(server: PacsServer, files: Iterable[str | os.PathLike]) -> ProgressGenerator[int]:
    """Send DICOM files to the server, a few per request, yielding progress; returns how many."""
    files = [Path(f) for f in files]
    client = server.client()
    yield Progress(0, len(files), "sending")
    for start in range(0, len(files), STORE_BATCH):
        batch = [pydicom.dcmread(path) for path in files[start : start + STORE_BATCH]]
        try:
            client.store_instances(batch)
        except (requests.RequestException, ValueError) as exc:
            raise _failure(server, "Sending the series", exc) from exc
        done = min(start + STORE_BATCH, len(files))
        yield Progress(done, len(files), f"sent {done} of {len(files)} images")
    return len(files)
