"""Our own copies of a bundle's logs stay out of the page cache; the bundle's own files are never touched.

An archive's logs are unpacked to a private directory and read once: each copy is written and read with
the pages behind the current position dropped (gather/pagecache.py), so a 1 GiB archive no longer fills
1 GiB of cache (on our CI's VM, fresh cache pages cost 5 to 8 s of system CPU a GiB: BENCHMARKS.md,
session 17). Dropping is advice: the bytes and the analysis must be what they were.
"""

import gzip
import io
import itertools
import os
import tarfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etcd_perf.gather import bundle as bundle_module
from etcd_perf.gather import logparse, pagecache
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import Prefetch, load_bundle
from etcd_perf.gather.catalogue import default_catalogue
from tests.factory import LAB_34


class Advice:
    """posix_fadvise recorded: (file, offset, length) per call, the file by the path its descriptor names."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        self.calls.append((os.readlink(f"/proc/self/fd/{fd}"), offset, length))

    def files(self) -> set[str]:
        return {path for path, _, _ in self.calls}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=700), max_size=40), st.integers(min_value=1, max_value=2048))
def test_a_dropping_writer_writes_the_bytes_and_advises_every_one_of_them_behind_the_writes(
    tmp_path_factory, pieces, window
):
    path = tmp_path_factory.mktemp("w") / "copy"
    advice = Advice()
    old = pagecache._ADVISE, pagecache.DROP_WINDOW
    pagecache._ADVISE, pagecache.DROP_WINDOW = advice, window
    try:
        with open(path, "wb") as out:
            sink = pagecache.DroppingWriter(out)
            for piece in pieces:
                assert sink.write(memoryview(piece)) == len(piece)
                behind = [(offset, length) for _, offset, length in advice.calls]
                if behind:  # what is advised is always written, from the file's start without a gap
                    assert behind[0][0] == 0
                    assert all(o2 <= o1 + n1 for (o1, n1), (o2, _) in itertools.pairwise(behind))
                    assert behind[-1][0] + behind[-1][1] <= out.tell()
                    assert os.path.getsize(path) >= behind[-1][0] + behind[-1][1]  # flushed before advised
            sink.finish()
    finally:
        pagecache._ADVISE, pagecache.DROP_WINDOW = old
    assert path.read_bytes() == b"".join(pieces)
    assert advice.calls[-1][1:] == (0, 0)  # at the end, the whole file
    # each advice covers at most the newest window and the one before it
    assert all(length <= 2 * (window + 700) for _, _, length in advice.calls[:-1])


def test_a_chunked_parse_of_a_copy_drops_each_read_and_finds_what_a_cached_parse_finds(monkeypatch, tmp_path):
    log = next((LAB_34 / "namespaces").rglob("current.log"))
    monkeypatch.setattr(logparse, "CHUNK_BYTES", 8 << 10)  # many chunks
    catalogue = default_catalogue()
    cached, cached_stats = logparse.parse_file(log, catalogue, False)
    advice = Advice()
    monkeypatch.setattr(pagecache, "_ADVISE", advice)
    dropped, dropped_stats = logparse.parse_file(log, catalogue, False, uncached=True)
    assert cached_stats == dropped_stats and sorted(cached) == sorted(dropped)
    for kind in cached:
        assert_frame_equal(
            logparse.collected({kind: cached[kind]})[kind], logparse.collected({kind: dropped[kind]})[kind]
        )
    reads = sorted((offset, length) for _, offset, length in advice.calls)
    assert advice.files() == {str(log.resolve())}
    # the reads advised are the file, each byte once or twice (a read's cut line is read again)
    assert reads[0][0] == 0 and all(o2 <= o1 + n1 for (o1, n1), (o2, _) in itertools.pairwise(reads))
    assert reads[-1][0] + reads[-1][1] == log.stat().st_size
    # the lines a report quotes come back alike, and their reads are dropped too
    wanted = logparse.pl.Series([1, 2, 3, cached_stats.lines])
    advice.calls.clear()
    assert logparse.file_excerpts(log, False, wanted, cached_stats.chunk_starts, uncached=True).equals(
        logparse.file_excerpts(log, False, wanted, cached_stats.chunk_starts)
    )
    assert advice.files() == {str(log.resolve())}


def _pack(root: Path, archive: Path) -> Path:
    """``root`` as a .tar.gz, with a rotated log gzipped as the kubelet leaves it (decompressed to a copy)."""
    rotated = "namespaces/openshift-etcd/pods/etcd-master-0/etcd/etcd/logs/rotated/0.log.20240101-000000.gz"
    data = gzip.compress(b'{"level":"info","msg":"ready to serve client requests"}\n', mtime=0)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(root).as_posix())
        info = tarfile.TarInfo(rotated)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive


def test_an_archive_s_log_copies_are_dropped_from_the_cache_and_never_read_to_check_them_again(monkeypatch, tmp_path):
    archive = _pack(LAB_34, tmp_path / "lab.tar.gz")
    with open_bundle(archive) as opened:
        plain = load_bundle(opened, "bundle")
    advice = Advice()
    monkeypatch.setattr(pagecache, "_ADVISE", advice)

    def never(path):
        raise AssertionError(f"{path} was cleaned as it was unpacked: no need to read it again")

    monkeypatch.setattr(bundle_module, "needs_cleaning", never)
    with Prefetch() as prefetch, open_bundle(archive, on_file=prefetch.offer) as opened:
        dropped = load_bundle(opened, "bundle", prefetch=prefetch)
        copies = {str(p.resolve()) for p in opened.root.rglob("*.log*")} | {
            str(p.resolve()) for p in opened.scratch.glob("*.log")
        }
        rows = dropped.of("server_start", columns=["file", "line"]).head(3)
        quoted = dropped.excerpts(rows)
    assert rows.height == 3
    assert sorted(plain.kind_events) == sorted(dropped.kind_events)
    for kind in plain.kind_events:
        assert_frame_equal(plain.kind_events[kind], dropped.kind_events[kind])
    assert quoted["excerpt"].null_count() == 0
    # every log copy (the members, the gzipped one's decompressed copy) was advised, and nothing else
    assert advice.files() and advice.files() <= copies
    assert any(path.endswith(".gz") for path in advice.files())  # the compressed member's own copy
    assert any(Path(path).parent.name == "scratch" for path in advice.files())  # and what it decompressed to


def test_a_directory_s_files_are_never_advised(monkeypatch):
    advice = Advice()
    monkeypatch.setattr(pagecache, "_ADVISE", advice)
    with open_bundle(LAB_34) as opened:
        bundle = load_bundle(opened, "bundle")
        bundle.excerpts(bundle.of("server_start", columns=["file", "line"]).head(3))
    assert not advice.calls
