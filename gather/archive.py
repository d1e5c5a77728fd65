"""Open a bundle given as a directory or an archive, never writing outside a private temp dir.

Customer archives are untrusted: members with absolute paths or ``..``, links, devices and FIFOs
are refused and reported, sizes are capped, and a truncated archive yields what was readable
plus a note that it is damaged. Directories are read in place and never modified.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gather.errors import BundleError

DEFAULT_MAX_BYTES = 16 * 1024**3
DEFAULT_MAX_MEMBERS = 200_000
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tar.bz2", ".zip")


@dataclass
class OpenedBundle:
    root: Path
    format: str
    problems: list[str] = field(default_factory=list)
    damaged: bool = False
    workdir: Path | None = None  # private: the unpacked archive and the scratch space
    adopted: bool = False  # a loaded Bundle took over workdir and removes it when it goes

    @property
    def scratch(self) -> Path:
        """Where decompressed logs go (never inside the bundle, which stays untouched)."""
        assert self.workdir is not None
        path = self.workdir / "scratch"
        path.mkdir(exist_ok=True)
        return path


def _safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it could land outside the extraction dir."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or any(part == ".." for part in path.parts) or name.startswith("/"):
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        return None
    return PurePosixPath(*parts)


def _archive_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return suffix.lstrip(".")
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise BundleError(f"{path}: not a directory or a supported archive ({', '.join(ARCHIVE_SUFFIXES)})")


class _Budget:
    def __init__(self, max_bytes: int, max_members: int) -> None:
        self.bytes_left = max_bytes
        self.members_left = max_members

    def take(self, size: int) -> bool:
        self.members_left -= 1
        self.bytes_left -= max(size, 0)
        return self.members_left >= 0 and self.bytes_left >= 0


def _copy_stream(src, dest: Path, budget: _Budget) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            budget.bytes_left -= len(chunk)
            if budget.bytes_left < 0:
                raise BundleError("archive expands beyond the size limit (--max-bytes)")
            out.write(chunk)


def _extract_tar(path: Path, dest: Path, opened: OpenedBundle, budget: _Budget) -> None:
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = _safe_name(member.name)
                if member.isdir():
                    continue
                if name is None:
                    opened.problems.append(f"refused archive member with an unsafe path: {member.name!r}")
                    continue
                if not member.isfile():
                    opened.problems.append(f"refused archive member that is not a regular file: {member.name!r}")
                    continue
                if not budget.take(0):
                    opened.problems.append("archive has more members than allowed; the rest was not read")
                    break
                src = tar.extractfile(member)
                if src is None:
                    continue
                _copy_stream(src, dest / name, budget)
    except (tarfile.ReadError, EOFError, OSError, ValueError) as exc:
        opened.damaged = True
        opened.problems.append(f"archive is damaged or truncated ({exc}); analysed what was readable")


def _extract_zip(path: Path, dest: Path, opened: OpenedBundle, budget: _Budget) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                name = _safe_name(info.filename)
                if name is None:
                    opened.problems.append(f"refused archive member with an unsafe path: {info.filename!r}")
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode not in (0, 0o100000):
                    opened.problems.append(f"refused archive member that is not a regular file: {info.filename!r}")
                    continue
                if not budget.take(0):
                    opened.problems.append("archive has more members than allowed; the rest was not read")
                    break
                try:
                    with zf.open(info) as src:
                        _copy_stream(src, dest / name, budget)
                except (zipfile.BadZipFile, EOFError, OSError) as exc:
                    opened.damaged = True
                    opened.problems.append(f"archive member {info.filename!r} is damaged ({exc})")
    except (zipfile.BadZipFile, OSError) as exc:
        opened.damaged = True
        opened.problems.append(f"archive is damaged or truncated ({exc}); analysed what was readable")


@contextmanager
def open_bundle(
    path: Path, max_bytes: int = DEFAULT_MAX_BYTES, max_members: int = DEFAULT_MAX_MEMBERS
) -> Iterator[OpenedBundle]:
    """Yield the bundle's root directory; archives are unpacked into a private temp dir."""
    if not path.exists():
        raise BundleError(f"{path}: no such file or directory")
    fmt = "directory" if path.is_dir() else _archive_format(path)
    work = Path(tempfile.mkdtemp(prefix="etcd-perf-"))
    opened = OpenedBundle(root=path if fmt == "directory" else work / "bundle", format=fmt, workdir=work)
    try:
        if fmt != "directory":
            opened.root.mkdir()
            budget = _Budget(max_bytes, max_members)
            if fmt == "zip":
                _extract_zip(path, opened.root, opened, budget)
            else:
                _extract_tar(path, opened.root, opened, budget)
        yield opened
    finally:
        if not opened.adopted:
            shutil.rmtree(work, ignore_errors=True)
