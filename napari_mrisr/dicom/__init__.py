"""A radiologist's data: DICOM series in (files, folders, DICOMDIRs, a PACS) and a derived
series of the result out, beside the original.

- :mod:`.series`: series found by their headers, grouped by SeriesInstanceUID.
- :mod:`.reading`: a series as a :class:`~napari_mrisr.volume.base.Volume` (highdicom).
- :mod:`.writing`: a volume as a new derived series (pydicom).
- :mod:`.dicomweb`: search, retrieve and store on a PACS over DICOMweb (dicomweb-client).
- :mod:`.scan`: a scan by path, DICOM or NIfTI/MGZ alike.
"""

from .reading import load_series
from .scan import is_dicom_input, read_scan
from .series import DicomSeries, find_series, is_dicom_file
from .writing import save_series, series_description

__all__ = [
    "DicomSeries",
    "find_series",
    "is_dicom_file",
    "is_dicom_input",
    "load_series",
    "read_scan",
    "save_series",
    "series_description",
]
