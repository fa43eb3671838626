"""Atomic file writes: every file the package writes appears whole under its name, or not at all.

Used by every writer (volumes, model files, checkpoints, tables, configs): the data goes to a
hidden temporary file beside the target (``.NAME.tmp-PID-*``, same file system) which is
renamed over the target only once complete, so a crash or a kill never leaves half a file.
A temporary file left by a killed process (its PID no longer running) is removed the next
time the same target is written.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LOCK_SUFFIX",
    "TEMP_MARK",
    "atomic_path",
    "byte_size",
    "check_writable",
    "claim",
    "sweep_stale",
    "write_text",
]

#: What every temporary file's name holds (``.gitignore`` and clean-ups look for it).
TEMP_MARK = ".tmp-"
#: How a claim on an output is named: ``.NAME.lock``, holding the claiming process's PID.
LOCK_SUFFIX = ".lock"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import: os.umask can only be read by setting it, which races with threads.
_UMASK = _read_umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_stale(path: Path) -> None:
    """Delete temporaries of ``path`` whose writer was killed (its PID is gone)."""
    for tmp in path.parent.glob(f".{path.name}{TEMP_MARK}*"):
        pid = tmp.name[len(path.name) + 1 + len(TEMP_MARK) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def sweep_stale(folder: str | os.PathLike) -> None:
    """Delete the temporaries and claims in ``folder`` that killed processes of ours left."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.glob(f".*{TEMP_MARK}*"):
        pid = path.name.split(TEMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
    for lock in folder.glob(f".*{LOCK_SUFFIX}"):
        if _stale_claim(lock):
            lock.unlink(missing_ok=True)


def _stale_claim(lock: Path) -> bool:
    try:
        pid = lock.read_text().strip()
    except OSError:
        return False
    return pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


@contextmanager
def claim(path: str | os.PathLike) -> Iterator[bool]:
    """Claim the right to write ``path`` among processes on this machine: yields True while
    held (released at the end), False when a live process holds it. A claim left by a
    killed process (its PID gone) is taken over. Two runs into one folder thus never work
    on the same output at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}{LOCK_SUFFIX}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _stale_claim(lock):
                yield False
                return
            lock.unlink(missing_ok=True)  # its process is gone: take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        try:
            yield True
        finally:
            lock.unlink(missing_ok=True)
        return
    yield False


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "", replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``path`` (mode 0666 & ~umask).

    ``suffix`` ends the temporary name, for writers that pick a format by extension (e.g.
    ``.nii.gz``). With ``replace=False`` an existing ``path`` is never replaced, even one
    that appeared while the data was being written (FileExistsError). On an exception the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}{os.getpid()}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; honour the user's umask
        if replace:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    except OSError as exc:
        if exc.errno is None or exc.filename is not None:  # already says what and where
            raise
        # e.g. a disk that filled up while writing: "[Errno 28] No space left on device"
        error = OSError(f"Could not write {str(path)!r}: {exc.strerror or exc}.")
        error.errno = exc.errno
        raise error from exc
    finally:
        tmp.unlink(missing_ok=True)


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless a file has it: a hard link fails if one exists."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{str(path)!r} already exists; pass --force to overwrite it.") from None
    except OSError as exc:  # a file system without hard links: check, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():
            raise FileExistsError(f"{str(path)!r} already exists; pass --force to overwrite it.") from None
        os.rename(tmp, path)


def byte_size(nbytes: float) -> str:
    """``nbytes`` for a person: '512 bytes', '36 KiB', '4.2 MiB', '1.5 GiB', '3e+06 EiB'."""
    if nbytes < 1024:
        return f"{nbytes:.0f} bytes"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    for unit in units:
        nbytes /= 1024
        if nbytes < 1024 or unit == units[-1]:
            digits = ".1f" if nbytes < 10 else ".0f" if nbytes < 1024 else ".3g"  # .3g: beyond EiB
            return f"{nbytes:{digits}} {unit}"
    raise AssertionError  # unreachable


def check_writable(path: str | os.PathLike, nbytes: int = 0, replace: bool = True) -> Path:
    """Refuse, before any work, an output that could not be written: one sentence (OSError/FileExistsError).

    Checks that the folder exists (or can be made) and takes a file, that ``path`` is not a
    folder (nor, without ``replace``, an existing file), and that ``nbytes`` fit on the disk.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name for the output.")
    if not replace and path.exists():
        raise FileExistsError(f"{str(path)!r} already exists; pass --force to overwrite it.")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}{os.getpid()}-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"Cannot write to {str(folder)!r}: {exc.strerror or exc}.") from None
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise OSError(
            f"{str(folder)!r} has {byte_size(free)} free but the output needs about {byte_size(nbytes)}."
        )
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically and return its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")
    return Path(path)
