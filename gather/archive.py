"""Open a bundle given as a directory or an archive, never writing outside a private temp dir.

Customer archives are untrusted: members with absolute paths or ``..``, links, devices and FIFOs
are refused and reported, sizes are capped, and a truncated archive yields what was readable
plus a note that it is damaged. Directories are read in place and never modified.
"""

from __future__ import annotations

import io
import lzma
import shutil
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from etcd_perf.gather import gunzip
from etcd_perf.gather.errors import BundleError
from etcd_perf.gather.layout import log_kind_of, may_hold_etcd_data
from etcd_perf.gather.pagecache import DroppingWriter
from etcd_perf.gather.sanitize import clean, resolve_lines, save_cleaning

# what an archive may unpack to: etcd's part of a must-gather is megabytes (logs are cleaned on the way, a
# metrics dump is hundreds of MB at most); a laptop's temporary directory holds a few GiB to spare
DEFAULT_MAX_BYTES = 4 * 1024**3
# unpacking stops before the free space of the temporary directory falls below this
DISK_MARGIN_BYTES = 1024**3
DISK_CHECK_EVERY = 64 << 20  # bytes written between two looks at the free space
DEFAULT_MAX_MEMBERS = 200_000
# bytes read from a member and written to its copy at a time. Small on purpose: below the 1 MiB from which
# glibc serves a block by mmap (etcd_perf/allocator.py), so the same few heap blocks carry the whole
# archive instead of a fresh mapping per read, and each write() small. Unpacking the 1 GiB corpus' .tar.gz
# alone took 1.1-1.6 s against 6-12 s in 16 MiB blocks (mostly system CPU), and its whole analysis now costs
# 3-8 % more user CPU than the directory's (BENCHMARKS.md, session 16)
UNPACK_BLOCK = 512 << 10
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tar.bz2", ".zip")


# (member path, its file once fully written or None as it starts to be written, the scratch dir)
OnFile = Callable[[str, "Path | None", Path], None]


@dataclass
class OpenedBundle:
    root: Path
    format: str
    problems: list[str] = field(default_factory=list)
    damaged: bool = False
    refused: int = 0  # members not extracted: unsafe paths, links, devices, FIFOs
    skipped: int = 0  # regular files that cannot hold etcd data (the rest of a whole-cluster must-gather)
    workdir: Path | None = None  # private: the unpacked archive and the scratch space
    adopted: bool = False  # a loaded Bundle took over workdir and removes it when it goes
    on_file: OnFile | None = None  # told of each member as it is unpacked (logs parse meanwhile)

    @property
    def scratch(self) -> Path:
        """Where decompressed logs go (never inside the bundle, which stays untouched)."""
        assert self.workdir is not None
        path = self.workdir / "scratch"
        path.mkdir(exist_ok=True)
        return path


def _safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it could land outside the extraction dir."""
    if "\x00" in name:  # no file system takes it (a damaged zip's salvaged header can carry one)
        return None
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
    def __init__(self, max_bytes: int, max_members: int, workdir: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.bytes_left = max_bytes
        self.members_left = max_members
        self.workdir = workdir  # whose file system must keep DISK_MARGIN_BYTES free
        self.unchecked = DISK_CHECK_EVERY  # written since the last look, counted down

    def spend(self, size: int) -> None:
        """Account for ``size`` more bytes about to be written: _OverBudget past --max-bytes, _DiskLow when
        the free space would fall below the margin (looked at every DISK_CHECK_EVERY bytes)."""
        self.bytes_left -= size
        self.unchecked -= size
        if self.workdir is not None and self.unchecked <= 0:
            self.unchecked = DISK_CHECK_EVERY
            free = shutil.disk_usage(self.workdir).free
            if free - DISK_CHECK_EVERY < DISK_MARGIN_BYTES:
                raise _DiskLow(free)

    def take(self, size: int) -> bool:
        self.members_left -= 1
        self.bytes_left -= max(size, 0)
        return self.members_left >= 0 and self.bytes_left >= 0


class _OverBudget(Exception):
    """The archive unpacks to more than --max-bytes: what was read so far is analysed."""


class _DiskLow(_OverBudget):
    """Unpacking further would leave the temporary directory with less than DISK_MARGIN_BYTES free."""

    def __init__(self, free: int) -> None:
        super().__init__(free)
        self.free = free


def _copy_stream(src, dest: Path, budget: _Budget, first: bytes = b"", uncached: bool = False) -> None:
    """``first`` (already read from ``src``), then the rest of ``src``, to ``dest``, within the budget;
    ``uncached``: kept out of the page cache (gather/pagecache.py)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        sink = DroppingWriter(out) if uncached else out
        capped = _Capped(sink, budget)
        if first:
            capped.write(first)
        while chunk := src.read(UNPACK_BLOCK):
            capped.write(chunk)
        if isinstance(sink, DroppingWriter):
            sink.finish()


def _write_log(src, dest: Path, budget: _Budget, scratch: Path) -> None:
    """An etcd log member, cleaned on its way to disk (gather/sanitize.py: a line over 1 MiB cut, long runs
    of empty lines kept as one), so a log of gigabytes of NULs or newlines never reaches the disk whole.
    A compressed one is copied as it is: it is cleaned as it is decompressed.

    The copy is read once by the parse: it is kept out of the page cache (gather/pagecache.py), and how it
    was cleaned is recorded even when nothing was changed, so the parse does not read it once more to see
    whether it needs cleaning (``sanitize.needs_cleaning``)."""
    first = src.read(UNPACK_BLOCK)
    if first[:2] == b"\x1f\x8b" or first[:6] == b"\xfd7zXZ\x00":
        _copy_stream(src, dest, budget, first, uncached=True)
        return

    def blocks() -> Iterator[bytes]:
        block = first
        while block:
            yield block
            block = src.read(UNPACK_BLOCK)

    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        sink = DroppingWriter(out)
        cleaning = clean(blocks(), _Capped(sink, budget))
        sink.finish()
    save_cleaning(resolve_lines(cleaning, dest), scratch, dest)


class _Capped:
    """A file that stops at the --max-bytes budget (what fits is written, then _OverBudget)."""

    def __init__(self, out, budget: _Budget) -> None:
        self.out, self.budget = out, budget

    def write(self, data: bytes | memoryview) -> None:
        self.budget.spend(len(data))
        if self.budget.bytes_left < 0:
            self.out.write(data[: len(data) + self.budget.bytes_left])
            raise _OverBudget
        self.out.write(data)


def _write_member(src, opened: OpenedBundle, name: PurePosixPath, budget: _Budget) -> None:
    """One member to disk, telling ``on_file`` when it starts (any earlier copy is void) and when it is whole."""
    rel = name.as_posix()
    if opened.on_file is not None:
        opened.on_file(rel, None, opened.scratch)
    if log_kind_of(rel) is None:
        _copy_stream(src, opened.root / name, budget)
    else:
        _write_log(src, opened.root / name, budget, opened.scratch)
    if opened.on_file is not None:
        opened.on_file(rel, opened.root / name, opened.scratch)


def _refuse(opened: OpenedBundle, why: str, name: str) -> None:
    opened.refused += 1
    opened.problems.append(f"refused archive member {why}: {name!r}")


def _stop_member_cap(opened: OpenedBundle) -> None:
    opened.damaged = True
    opened.problems.append("archive has more members than allowed (--max-members); the rest was not read")


def _stop_over_budget(opened: OpenedBundle, max_bytes: int, exc: _OverBudget | None = None) -> None:
    opened.damaged = True
    if isinstance(exc, _DiskLow):
        opened.problems.append(
            f"unpacking stopped: the temporary directory had {exc.free >> 20} MiB free, and less than "
            f"{DISK_MARGIN_BYTES >> 20} MiB must never be left; the analysis covers what was unpacked "
            "(set TMPDIR to a bigger file system)"
        )
        return
    opened.problems.append(
        f"archive unpacks to more than {max_bytes} bytes (--max-bytes): the rest was not read; "
        "the analysis covers what was"
    )


@contextmanager
def _open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A tar archive, gunzipped by isal where it is gzip (``gunzip``), else as tarfile opens it."""
    if not gunzip.is_gzip(path):
        with tarfile.open(path, "r:*") as tar:
            yield tar
        return
    with gunzip.open_gzip(path) as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
        yield tar


def _extract_tar(path: Path, opened: OpenedBundle, budget: _Budget) -> None:
    try:
        with _open_tar(path) as tar:
            for member in tar:
                name = _safe_name(member.name)
                if member.isdir():
                    continue
                if name is None:
                    _refuse(opened, "with an unsafe path", member.name)
                    continue
                if not member.isfile():
                    _refuse(opened, f"that is not a regular file ({_tar_kind(member)})", member.name)
                    continue
                if not may_hold_etcd_data(name.as_posix()):
                    opened.skipped += 1
                    continue
                if not budget.take(0):
                    _stop_member_cap(opened)
                    break
                src = tar.extractfile(member)
                if src is None:
                    continue
                _write_member(src, opened, name, budget)
    except _OverBudget as exc:
        _stop_over_budget(opened, budget.max_bytes, exc)
    except (tarfile.ReadError, EOFError, OSError, ValueError, *gunzip.ERRORS, lzma.LZMAError) as exc:
        opened.damaged = True
        opened.problems.append(f"archive is damaged or truncated ({exc}); analysed what was readable")


def _extract_zip(path: Path, opened: OpenedBundle, budget: _Budget) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                name = _safe_name(info.filename)
                if name is None:
                    _refuse(opened, "with an unsafe path", info.filename)
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode not in (0, 0o100000):
                    _refuse(opened, "that is not a regular file (a link or special file)", info.filename)
                    continue
                if not may_hold_etcd_data(name.as_posix()):
                    opened.skipped += 1
                    continue
                if not budget.take(0):
                    _stop_member_cap(opened)
                    break
                try:
                    with zf.open(info) as src:
                        _write_member(src, opened, name, budget)
                except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError) as exc:
                    opened.damaged = True
                    opened.problems.append(f"archive member {info.filename!r} is damaged ({exc})")
    except _OverBudget as exc:
        _stop_over_budget(opened, budget.max_bytes, exc)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        opened.damaged = True
        opened.problems.append(f"archive is damaged or truncated ({exc}); analysed what was readable")
        try:
            _salvage_zip(path, opened, budget)
        except _OverBudget as exc:
            _stop_over_budget(opened, budget.max_bytes, exc)


LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _salvage_zip(path: Path, opened: OpenedBundle, budget: _Budget) -> None:
    """A zip cut short has lost its central directory (at the end) but not its members: read them
    in order from their local headers, as far as the data goes."""
    data = path.read_bytes()
    pos = 0
    recovered = 0
    while (pos := data.find(b"PK\x03\x04", pos)) >= 0 and pos + LOCAL_HEADER.size <= len(data):
        _, _, flags, method, _, _, _, csize, _, nlen, xlen = LOCAL_HEADER.unpack_from(data, pos)
        start = pos + LOCAL_HEADER.size + nlen + xlen
        raw_name = data[pos + LOCAL_HEADER.size : pos + LOCAL_HEADER.size + nlen]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        pos = start
        safe = _safe_name(name)
        if name.endswith("/") or method not in (0, 8):
            continue
        if safe is None:
            _refuse(opened, "with an unsafe path", name)
            continue
        if not may_hold_etcd_data(safe.as_posix()):
            opened.skipped += 1
            continue
        if method == 8:
            inflate = zlib.decompressobj(-15)
            try:
                content = inflate.decompress(data[start : start + csize] if csize and not flags & 0x8 else data[start:])
            except zlib.error:
                continue
            pos = len(data) - len(inflate.unused_data) if inflate.eof else len(data)
        else:
            if flags & 0x8:
                continue  # stored with a trailing descriptor: its length is unknown
            content, pos = data[start : start + csize], start + csize
        if not budget.take(0):
            _stop_member_cap(opened)
            return
        _write_member(io.BytesIO(content), opened, safe, budget)
        recovered += 1
    if recovered:
        opened.problems.append(f"recovered {recovered} member(s) of the damaged zip from their local headers")


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symlink to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    return "a special file"


@contextmanager
def open_bundle(
    path: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    on_file: OnFile | None = None,
) -> Iterator[OpenedBundle]:
    """Yield the bundle's root directory; archives are unpacked into a private temp dir, and ``on_file``
    hears of each member as it is written."""
    if not path.exists():
        raise BundleError(f"{path}: no such file or directory")
    fmt = "directory" if path.is_dir() else _archive_format(path)
    work = Path(tempfile.mkdtemp(prefix="etcd-perf-"))
    opened = OpenedBundle(
        root=path if fmt == "directory" else work / "bundle", format=fmt, workdir=work, on_file=on_file
    )
    try:
        if fmt != "directory":
            opened.root.mkdir()
            budget = _Budget(max_bytes, max_members, work)
            if fmt == "zip":
                _extract_zip(path, opened, budget)
            else:
                _extract_tar(path, opened, budget)
        yield opened
    finally:
        if not opened.adopted:
            shutil.rmtree(work, ignore_errors=True)
