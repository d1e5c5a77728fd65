"""No bundle may exhaust memory, disk or time. Small archives with big contents, built here by streaming
(nothing big is ever held in memory or written whole): a log that ends in GiBs of NUL bytes, a 1 GiB
line, hundreds of MiB of empty lines, a compressed multi-GiB log, a deep JSON, a YAML alias bomb. Each is
analysed in a subprocess whose peak RSS is read back (``wait4``), against the budgets the README states:
within 1 GiB, within 3x the time ``gzip -dc`` takes to inflate the same archive (measured in the same
run), an exit code in 0-3, no traceback, and the real lines' findings still reported."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd_perf.allocator import MMAP_THRESHOLD
from etcd_perf.gather import sanitize
from etcd_perf.gather.archive import UNPACK_BLOCK, open_bundle
from etcd_perf.gather.bundle import load_bundle
from etcd_perf.gather.catalogue import default_catalogue
from etcd_perf.gather.logparse import parse_file
from tests.factory import REPO, SAMPLE

RSS_BUDGET_KB = 1024 * 1024  # 1 GiB
TIME_RATIO = 3.0
MEMBER = "etcd-master-1"
REAL = SAMPLE / "namespaces" / "openshift-etcd" / "pods" / MEMBER / "etcd" / "etcd" / "logs" / "current.log"
GIB = 1 << 30
BLOCK = 8 << 20


class _Stream(io.RawIOBase):
    """A file-like object reading from a generator of byte blocks (for tarfile.addfile: never whole)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self.blocks, self.buf = blocks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.buf:
            try:
                self.buf = next(self.blocks)
            except StopIteration:
                return 0
        n = min(len(b), len(self.buf))
        b[:n], self.buf = self.buf[:n], self.buf[n:]
        return n


def _repeat(byte: bytes, total: int) -> Iterator[bytes]:
    block = byte * BLOCK
    left = total
    while left > 0:
        yield block[: min(left, BLOCK)]
        left -= BLOCK


def _gzip_blocks(blocks: Iterator[bytes]) -> Iterator[bytes]:
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    for b in blocks:
        if out := z.compress(b):
            yield out
    yield z.flush()


def _sized(blocks: Iterator[bytes]) -> tuple[int, Iterator[bytes]]:
    data = list(blocks)  # only for small compressed streams
    return sum(len(b) for b in data), iter(data)


def _archive(path: Path, files: dict[str, tuple[int, Iterator[bytes]]]) -> Path:
    """A .tar.gz (gzip level 1) of ``files`` (member -> (size, blocks)), with the sample's real log under
    master-1 and its etcd_info beside them, streamed member by member."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for rel in sorted(p.relative_to(SAMPLE).as_posix() for p in (SAMPLE / "etcd_info").glob("*.json")):
            tar.add(SAMPLE / rel, arcname=f"mg/{rel}")
        for rel, (size, blocks) in files.items():
            info = tarfile.TarInfo(f"mg/{rel}")
            info.size = size
            tar.addfile(info, io.BufferedReader(_Stream(blocks), buffer_size=BLOCK))
    return path


def _log(name: str = "current.log") -> str:
    return f"namespaces/openshift-etcd/pods/{MEMBER}/etcd/etcd/logs/{name}"


def _real_then(tail: int, blocks: Iterator[bytes]) -> tuple[int, Iterator[bytes]]:
    real = REAL.read_bytes()

    def gen() -> Iterator[bytes]:
        yield real
        yield from blocks

    return len(real) + tail, gen()


def _case_nul(tmp: Path) -> Path:
    return _archive(tmp / "nul.tar.gz", {_log(): _real_then(2 * GIB, _repeat(b"\x00", 2 * GIB))})


def _case_one_line(tmp: Path) -> Path:
    return _archive(tmp / "line.tar.gz", {_log(): _real_then(GIB + 1, iter([*_repeat(b"x", GIB), b"\n"]))})


def _case_newlines(tmp: Path) -> Path:
    return _archive(tmp / "newlines.tar.gz", {_log(): _real_then(384 << 20, _repeat(b"\n", 384 << 20))})


def _case_gzip_log(tmp: Path) -> Path:
    """A rotated log, gzip'd, whose content is the real log and then 3 GiB of NULs."""
    real = REAL.read_bytes()
    size, blocks = _sized(_gzip_blocks(iter([real, *_repeat(b"\x00", 3 * GIB)])))
    data = list(blocks)
    (tmp / "gzlog.inner.gz").write_bytes(b"".join(data))  # inflating the log is part of the reference
    return _archive(tmp / "gzlog.tar.gz", {_log("rotated/current.log.20261126-114700.gz"): (size, iter(data))})


def _case_deep_json(tmp: Path) -> Path:
    real = REAL.read_bytes()
    deep = b"[" * 500_000 + b"]" * 500_000
    return _archive(
        tmp / "deepjson.tar.gz",
        {_log(): (len(real), iter([real])), "etcd_info/member_list.json": (len(deep), iter([deep]))},
    )


def _case_alias_bomb(tmp: Path) -> Path:
    real = REAL.read_bytes()
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = ("\n".join(rows) + "\nkind: Pod\nmetadata: {name: etcd-master-1}\nspec: {containers: *a9}\n").encode()
    return _archive(
        tmp / "bomb.tar.gz",
        {
            _log(): (len(real), iter([real])),
            f"namespaces/openshift-etcd/pods/{MEMBER}/{MEMBER}.yaml": (len(bomb), iter([bomb])),
        },
    )


def _case_reference(tmp: Path) -> Path:
    """The same bundle with none of the hostile contents: what analysing it costs anyway."""
    real = REAL.read_bytes()
    return _archive(tmp / "reference.tar.gz", {_log(): (len(real), iter([real]))})


CASES = {
    "gibs-of-nul-after-real-lines": _case_nul,
    "a-1-gib-line": _case_one_line,
    "hundreds-of-mib-of-newlines": _case_newlines,
    "a-gzip-of-a-multi-gib-log": _case_gzip_log,
    "a-deep-json": _case_deep_json,
    "a-yaml-alias-bomb": _case_alias_bomb,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bounded")
    return {name: make(tmp) for name, make in [*CASES.items(), ("reference", _case_reference)]}


ADDRESS_SPACE_LIMIT = 3 << 30  # virtual memory, a hard limit: polars reserves more than it touches


def _limit_memory() -> None:
    """In the child: a hard cap on its address space, where the machine allows one (a runaway allocation
    then fails in the child instead of taking the machine down)."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def _run(*cmd: str) -> tuple[int, float, int, str, str]:
    """(exit code, seconds, peak RSS in KiB, stdout, stderr) of a command: waited for with wait4, whose
    resource usage is that child's alone."""
    with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err, cwd=REPO, preexec_fn=_limit_memory)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            seconds,
            usage.ru_maxrss,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def _analyse(archive: Path, out: Path) -> tuple[int, float, int, str, str]:
    return _run(
        sys.executable,
        "-m",
        "etcd_perf.analyze.cli",
        "analyze",
        str(archive),
        "--duration",
        "all",
        "--format",
        "json",
        "--output",
        str(out),
    )


@pytest.fixture(scope="module")
def reference(built, tmp_path_factory) -> float:
    """Seconds to analyse the bundle without its hostile contents (starting up, the real lines, the
    reports): the hostile part must add at most a few byte scans to it."""
    out = tmp_path_factory.mktemp("ref")
    return min(_analyse(built["reference"], out / str(i))[1] for i in range(2))


NOISE_S = 0.5  # a run of a few seconds on a shared 2-core machine varies by this much


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_bundle_is_analysed_within_memory_and_time_budgets(built, reference, name, tmp_path):
    archive = built[name]
    assert archive.stat().st_size < 64 << 20  # a small archive...
    inner = archive.with_name(archive.name.replace(".tar.gz", ".inner.gz"))  # a compressed log inside
    with open(os.devnull, "wb") as null:
        start = time.monotonic()
        for gz in [archive, *([inner] if inner.exists() else [])]:
            subprocess.run(["gzip", "-dc", str(gz)], stdout=null, check=True)
        inflate = time.monotonic() - start
    code, seconds, rss, out, err = _analyse(archive, tmp_path / "out")
    assert code in (0, 1, 2, 3) and "Traceback" not in err, err[-2000:]
    assert rss <= RSS_BUDGET_KB, f"peak RSS {rss >> 10} MiB"
    # ...whose hostile contents cost at most 3x inflating the archive, over analysing the rest of it; where
    # inflating takes a second or more (GiBs inside), the whole analysis is within 3x of it too
    assert seconds - reference <= TIME_RATIO * inflate + NOISE_S, (seconds, reference, inflate)
    if inflate >= 1.0:
        assert seconds <= TIME_RATIO * inflate, (seconds, inflate)
    import json

    a = json.loads(out)
    # the real lines' findings are all still reported: master-1's slow fsyncs, its slow applies
    ids = {(f["id"], f["member"]) for f in a["findings"]}
    assert ("wal_fsync_logged", "master-1") in ids and ("slow_applies", "master-1") in ids


def test_the_hostile_contents_are_counted_where_the_user_sees_them(built, tmp_path):
    import json

    *_, out, _ = _analyse(built["gibs-of-nul-after-real-lines"], tmp_path / "o")
    dq = json.loads(out)["data_quality"]
    assert dq["long_lines"] == 1 and dq["binary_lines"] == 1
    *_, out, _ = _analyse(built["a-deep-json"], tmp_path / "o2")
    problems = json.loads(out)["data_quality"]["problems"]
    assert any("member_list.json is nested too deep" in p for p in problems)


# ---------------------------------------------------------------- the property, with small limits
REAL_LINES = REAL.read_text().splitlines()
LIMIT = max(len(line.encode()) for line in REAL_LINES) + 1  # the lowered long-line limit: no real line is cut
JUNK = st.one_of(
    st.integers(1, 40).map(lambda n: "x" * (LIMIT + n * 50)),  # over the long-line limit
    st.integers(1, 40).map(lambda n: "\x00" * (LIMIT + n * 50)),  # a NUL run, no line end in it
    st.integers(1, 60).map(lambda n: "\n" * n),  # empty lines, some runs over the (lowered) limit
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.tuples(st.integers(0, len(REAL_LINES) - 1), st.lists(JUNK, max_size=2)), min_size=1, max_size=25),
)
def test_real_lines_among_giant_lines_nul_runs_and_empty_lines_give_the_same_events(
    picks, tmp_path_factory, monkeypatch
):
    monkeypatch.setattr(sanitize, "LONG_LINE_BYTES", LIMIT)
    monkeypatch.setattr(sanitize, "KEEP", 64)
    monkeypatch.setattr(sanitize, "RUN", 4)
    tmp = tmp_path_factory.mktemp("p")
    real = "\n".join(REAL_LINES[i] for i, _ in picks) + "\n"
    mixed = "".join(
        REAL_LINES[i] + "\n" + "".join(j if j.startswith("\n") else j + "\n" for j in junk) for i, junk in picks
    )
    (tmp / "real.log").write_text(real)
    (tmp / "mixed.log").write_bytes(mixed.encode())
    with open(tmp / "clean.log", "wb") as out:
        cleaning = sanitize.clean(sanitize.file_blocks(tmp / "mixed.log", 97), out)
    cleaning = sanitize.resolve_lines(cleaning, tmp / "clean.log")
    cat = default_catalogue()
    want, _ = parse_file(tmp / "real.log", cat, False)
    got, _ = parse_file(tmp / "clean.log", cat, False)
    got = {k: cleaning.line_map.to_file_lines(f) for k, f in got.items()}
    assert sorted(want) == sorted(got)
    mixed_lines = mixed.split("\n")
    for kind in want:
        a, b = want[kind].drop("line", "digest"), got[kind].drop("line", "digest")
        assert a.equals(b), kind
        # each event points at its real line in the mixed file
        assert all(mixed_lines[n - 1] in REAL_LINES for n in got[kind]["line"].to_list())


def test_unpacking_stops_before_the_disk_fills_and_says_so(built, monkeypatch):
    """Free space in the temporary directory never falls below the margin: past it, unpacking stops with a
    note, and what was unpacked is analysed (here the margin is raised past any disk's free space)."""
    from etcd_perf.gather import archive

    monkeypatch.setattr(archive, "DISK_MARGIN_BYTES", 1 << 60)
    monkeypatch.setattr(archive, "DISK_CHECK_EVERY", 1)
    with archive.open_bundle(built["reference"]) as opened:
        assert opened.damaged
        assert any("unpacking stopped: the temporary directory had" in p for p in opened.problems)
        bundle = load_bundle(opened, "reference")
    assert bundle.damaged


def test_the_default_unpack_cap_fits_a_laptop():
    from etcd_perf.gather import archive

    assert archive.DEFAULT_MAX_BYTES <= 4 << 30 and archive.DISK_MARGIN_BYTES >= 1 << 30


def log_parts(longest: int) -> st.SearchStrategy[list[bytes]]:
    """A log's pieces: lines of up to ``longest`` bytes, runs of empty lines, NUL stretches without a line end."""
    return st.lists(
        st.one_of(
            st.integers(0, longest).map(lambda n: b"x" * n + b"\n"),
            st.integers(1, 12).map(lambda n: b"\n" * n),
            st.integers(0, longest).map(lambda n: b"\x00" * n),
        ),
        max_size=40,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=log_parts(120), block=st.integers(16, 200))
def test_a_log_the_prescan_passes_is_one_cleaning_would_leave_as_it_is(parts, block, tmp_path_factory, monkeypatch):
    """The prescan may send a clean log to be cleaned (it looks at windows, not lines), never the reverse:
    a log it passes holds no line over the limit and no run of empty lines cleaning would drop."""
    monkeypatch.setattr(sanitize, "LONG_LINE_BYTES", 64)
    monkeypatch.setattr(sanitize, "RUN", 4)
    monkeypatch.setattr(sanitize, "BLOCK", block)
    data = b"".join(parts)
    path = tmp_path_factory.mktemp("c") / "log"
    path.write_bytes(data)
    out = io.BytesIO()
    cleaning = sanitize.clean(sanitize.file_blocks(path, block), out)
    if not sanitize.needs_cleaning(path):
        assert out.getvalue() == data and cleaning.line_map.empty and not cleaning.long_lines


def test_a_log_cut_mid_line_is_not_sent_to_cleaning_for_its_last_stretch(tmp_path, monkeypatch):
    """A live log copied mid-write ends in part of a line: a last block with no line end is that line's
    continuation, too short to clean (a copy of the whole log for it would cost as much as its parse)."""
    monkeypatch.setattr(sanitize, "BLOCK", 16)
    monkeypatch.setattr(sanitize, "LONG_LINE_BYTES", 40)
    path = tmp_path / "current.log"
    path.write_bytes(b"0123456789abcde\n" * 3 + b"partial")
    assert not sanitize.needs_cleaning(path)
    path.write_bytes(b"0123456789abcde\n" * 3 + b"y" * 41)  # but a last line over the limit is one
    assert sanitize.needs_cleaning(path)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=log_parts(150), block=st.integers(16, 300))
def test_blocks_written_as_they_are_make_the_copy_cleaning_each_line_would(parts, block, tmp_path_factory, monkeypatch):
    """``clean`` writes a block that ``_plain_until`` passes as it is, uncounted; the copy, its counts and its
    map (line numbers resolved from the copy) are those of cleaning every block line by line."""
    monkeypatch.setattr(sanitize, "LONG_LINE_BYTES", 64)
    monkeypatch.setattr(sanitize, "KEEP", 16)
    monkeypatch.setattr(sanitize, "RUN", 4)
    data = b"".join(parts)
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    tmp_path = tmp_path_factory.mktemp("c")

    def cleaned(name: str) -> tuple[bytes, sanitize.Cleaning]:
        with open(tmp_path / name, "wb") as out:
            cleaning = sanitize.clean(iter(blocks), out)
        return (tmp_path / name).read_bytes(), sanitize.resolve_lines(cleaning, tmp_path / name)

    fast, fast_cleaning = cleaned("fast")
    with monkeypatch.context() as mp:
        mp.setattr(sanitize, "_plain_until", lambda block, carried: -1)
        slow, slow_cleaning = cleaned("slow")
    assert fast == slow
    assert fast_cleaning == slow_cleaning
    # each kept line of a run is the copy's line its offset ends
    lines = fast.split(b"\n")
    for at in fast_cleaning.line_map.at:
        assert lines[at - 1] == b"" and len(b"\n".join(lines[:at])) + 1 in fast_cleaning.line_map.offsets


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"\n", b"\n" * 5, b"\n" * 70, b"a", b"\x00", b"\r\n"]), max_size=40).map(b"".join),
    pos=st.integers(0, 50),
    run=st.sampled_from([2, 4, 64]),
)
def test_a_run_of_empty_lines_is_found_where_the_pattern_finds_it(data, pos, run):
    """``_next_run`` (a substring search) finds the run ``\\n{RUN+2,}`` would match, at any start."""
    import re

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sanitize, "RUN", run)
        got = sanitize._next_run(data, pos)
    want = re.compile(b"\n{" + str(run + 2).encode() + b",}").search(data, pos)
    assert got == (want.start(), want.end()) if want else got is None


def test_an_archived_log_is_unpacked_in_small_blocks_to_the_directory_s_events(tmp_path):
    """Members are read and written UNPACK_BLOCK bytes at a time, below glibc's mmap threshold (a fresh
    mapping per 16 MiB read made unpacking the 1 GiB corpus 4-8x slower, BENCHMARKS.md session 16). A 3 MiB
    line and a run of empty lines across the blocks' seams are still cut and collapsed, and every event
    keeps the line of the file it came from: the archive's events are the directory's."""
    assert UNPACK_BLOCK < MMAP_THRESHOLD
    real = REAL.read_bytes()
    many = real * (UNPACK_BLOCK // len(real) + 1)
    lead = many[: many.rfind(b"\n", 0, UNPACK_BLOCK - 100) + 1]  # so the run starts just before a seam
    log = lead + b"\n" * 5000 + b"y" * (3 << 20) + b"\n" + real
    directory = tmp_path / "dir"
    (directory / "mg" / _log()).parent.mkdir(parents=True)
    (directory / "mg" / _log()).write_bytes(log)
    (directory / "mg" / "etcd_info").mkdir()
    for info in (SAMPLE / "etcd_info").glob("*.json"):
        (directory / "mg" / "etcd_info" / info.name).write_bytes(info.read_bytes())
    archive = _archive(tmp_path / "b.tar.gz", {_log(): (len(log), iter([log]))})
    events = []
    for path in (directory, archive):
        with open_bundle(path) as opened:
            bundle = load_bundle(opened, str(path))
            events.append(bundle.events_where(None, ["kind", "line", "ts"]).sort("line", "kind"))
            if path == archive:  # (the copy's line was cut and its run dropped; a directory is read in place)
                assert (opened.root / "mg" / _log()).stat().st_size < len(log) - (3 << 20)
    assert events[1]["line"].max() > lead.count(b"\n") + 5000 and events[1].equals(events[0])
