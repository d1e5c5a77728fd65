"""A big log is parsed a chunk at a time; the events and statistics must not depend on where it is cut."""

import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etcd_perf.gather import logparse
from etcd_perf.gather.catalogue import default_catalogue
from etcd_perf.gather.logparse import collected, parse_file, wide_events

LAB = Path(__file__).parent / "data" / "shared-lab-3.5.16" / "namespaces" / "openshift-etcd" / "pods"
LOGS = sorted(LAB.glob("etcd-*/etcd/etcd/logs/*.log"))


def _whole(path: Path):
    lines = pl.scan_lines(path, name="raw").with_row_index("line", offset=1)
    frames, stats = logparse.parse_lines(lines, default_catalogue(), False)
    return wide_events(frames, default_catalogue()), stats


@pytest.mark.parametrize("spill_from", [None, 0, 400], ids=["in-memory", "all-spilled", "big-kinds-spilled"])
@pytest.mark.parametrize("log", LOGS, ids=lambda p: f"{p.parts[-5]}-{p.stem}")
def test_a_log_read_in_small_chunks_gives_the_events_and_counts_of_a_whole_read(log, spill_from, tmp_path, monkeypatch):
    # spilled: each chunk's events of a kind from ``spill_from`` bytes are written to disk and read back
    whole, whole_stats = _whole(log)
    monkeypatch.setattr(logparse, "CHUNK_BYTES", 4096)  # a real lab log cut every 4 KiB: many cuts
    monkeypatch.setattr(logparse, "SPILL_MIN_BYTES", spill_from or 0)
    spill = tmp_path / "spill" if spill_from is not None else None
    frames, stats = parse_file(log, default_catalogue(), False, spill)
    lazy = [kind for kind, frame in frames.items() if isinstance(frame, pl.LazyFrame)]
    assert bool(lazy) == (spill is not None) and (spill_from != 400 or len(lazy) < len(frames))
    assert_frame_equal(wide_events(collected(frames), default_catalogue()), whole)
    assert stats == whole_stats


def test_a_kinds_events_wait_in_memory_only_until_they_gather_enough_to_be_written(tmp_path, monkeypatch):
    # a big file's smaller kinds once stayed in memory all parse long: the peak with three files in flight
    monkeypatch.setattr(logparse, "SPILL_MIN_BYTES", 2000)
    spill = logparse._Spill(tmp_path)
    piece = pl.DataFrame({"line": list(range(100))}, schema={"line": pl.UInt64})  # 800 bytes a chunk
    taken = [spill.take({"k": piece.with_columns(pl.col("line") + 100 * n)}, n) for n in range(7)]
    assert [list(t) for t in taken] == [[], [], ["k"], [], [], ["k"], []]
    assert len(list(tmp_path.glob("k.*.parquet"))) == 2
    rest = spill.rest()
    assert rest["k"].height == 100  # less than the bar: in memory
    events = pl.concat([*[t["k"].collect() for t in taken if t], rest["k"]])
    assert events["line"].to_list() == list(range(700))  # in chunk order


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=1, max_value=3000), tail=st.booleans())
def test_chunks_cut_only_at_line_ends_and_lose_no_byte(tmp_path, monkeypatch, size, tail):
    text = b"".join(b"line %d %s\n" % (i, b"x" * (i % 97)) for i in range(400)) + (b"no newline" if tail else b"")
    path = tmp_path / "log"
    path.write_bytes(text)
    monkeypatch.setattr(logparse, "CHUNK_BYTES", size)
    chunks = list(logparse._chunks(path))
    kept = [b"".join(data.splitlines(keepends=True)[:count]) for data, count in chunks]
    assert b"".join(kept) == text
    assert all(k.endswith(b"\n") for k in kept[:-1])
    assert sum(count for _, count in chunks) == len(text.splitlines())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(alphabet="aé€😀\n", max_size=12), max_size=40), size=st.integers(1, 64))
def test_a_chunk_holds_whole_characters_wherever_the_read_cuts_a_line(tmp_path, monkeypatch, lines, size):
    # polars refuses a buffer whose cut last line splits a character, though it reads only the whole lines
    path = tmp_path / "log"
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setattr(logparse, "CHUNK_BYTES", size)
    got = [logparse._chunk_frame(box, 1).collect()["raw"].to_list() for box in logparse._chunks(path)]
    assert [line for chunk in got for line in chunk] == path.read_text(encoding="utf-8").splitlines()


def test_a_chunk_taken_for_parsing_leaves_no_copy_of_its_bytes_behind(tmp_path, monkeypatch):
    # the parse lets a chunk's bytes go once polars holds its lines: the reader must keep no reference
    path = tmp_path / "log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    monkeypatch.setattr(logparse, "CHUNK_BYTES", 4096)
    reader = logparse._chunks(path)
    box = next(reader)
    data = box[0]
    before = sys.getrefcount(data)
    lines = logparse._chunk_frame(box, 1).collect()
    assert box == [] and sys.getrefcount(data) == before - 1  # only ``data`` here holds it now
    assert lines["raw"].to_list() == path.read_bytes()[: len(data)].decode().splitlines()[: lines.height]


def _as_cri(log: Path, out: Path, partial_every: int = 0) -> Path:
    """A lab log in CRI-O's own format ("<time>+00:00 stderr F <line>"), as rotated files are; with
    ``partial_every``, every so many lines split into a ``P`` chunk and its ``F`` end."""
    rows = []
    for i, line in enumerate(log.read_text().splitlines()):
        stamp, _, text = line.partition(" ")
        stamp = stamp.replace("Z", "+00:00")
        if partial_every and i % partial_every == 0 and len(text) > 20:
            rows += [f"{stamp} stderr P {text[:20]}", f"{stamp} stderr F {text[20:]}"]
        else:
            rows.append(f"{stamp} stderr F {text}")
    out.write_text("\n".join(rows) + "\n")
    return out


def _joined(path: Path):
    lines = pl.scan_lines(path, name="raw").with_row_index("line", offset=1)
    frames, stats = logparse.parse_lines(lines, default_catalogue(), True)
    return wide_events(frames, default_catalogue()), stats


@pytest.mark.parametrize("partial_every", [0, 7], ids=["no-partial-lines", "partial-lines"])
def test_a_cri_file_gives_the_events_of_the_joining_parse_whether_or_not_it_joins(tmp_path, partial_every):
    # most rotated files hold no partial line and skip the join (half the parse time); the rest join
    cri = _as_cri(LOGS[0], tmp_path / "0.log.20240513-102133", partial_every)
    assert logparse._has_partials(cri) == bool(partial_every)
    frames, stats = parse_file(cri, default_catalogue(), True)
    joined, joined_stats = _joined(cri)
    assert_frame_equal(wide_events(frames, default_catalogue()), joined)
    assert stats == joined_stats and joined.height > 0
    assert (stats.joined_partials > 0) == bool(partial_every)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.sampled_from(["a", "2024-05-13T10:21:33+00:00 stderr F x", "2024-05-13T10:21:33+00:00 stdout P y"]),
        max_size=30,
    ),
    size=st.integers(min_value=1, max_value=64),
)
def test_a_partial_line_is_found_wherever_the_reads_cut_it(tmp_path, monkeypatch, lines, size):
    path = tmp_path / "log"
    path.write_text("\n".join(lines))
    monkeypatch.setattr(logparse, "CHUNK_BYTES", size)
    assert logparse._has_partials(path) == any(" P " in line for line in lines)


def _kind_events(monkeypatch, chunk: int | None) -> dict[str, pl.DataFrame]:
    from etcd_perf.gather import archive
    from etcd_perf.gather.bundle import load_bundle

    if chunk is not None:
        monkeypatch.setattr(logparse, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(logparse, "SPILL_MIN_BYTES", 0)
    with archive.open_bundle(LAB.parents[2]) as opened:
        return load_bundle(opened, "lab").kind_events


def test_a_bundle_of_big_logs_has_the_events_of_one_read_whole_though_they_went_to_disk(monkeypatch):
    # every log cut in 4 KiB chunks, every chunk's events spilled to the scratch space and read back
    whole = _kind_events(monkeypatch, None)
    spilled = _kind_events(monkeypatch, 4096)
    assert sorted(spilled) == sorted(whole) and sum(f.height for f in whole.values()) > 500
    for kind, frame in whole.items():
        assert_frame_equal(spilled[kind], frame)
