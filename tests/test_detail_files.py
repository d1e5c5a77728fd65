"""The per-area detail files quote the bundle's lines, the most recent DETAIL_LINES of each area, and
say how many earlier ones they leave to the bundle."""

import json
import re
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze import outputs
from etcd_perf.analyze.cli import main
from etcd_perf.analyze.window import Window


def run(tmp_path, capsys) -> dict[str, str]:
    with pytest.raises(SystemExit):
        main(["analyze", "--duration", "all", "--output", str(tmp_path)])
    capsys.readouterr()
    return {p.name: p.read_text() for p in tmp_path.iterdir() if p.suffix == ".txt"}


def test_detail_lines_are_quoted_whole_and_in_time_order(tmp_path, capsys):
    lines = run(tmp_path, capsys)["backend_raw_logs.txt"].splitlines()
    assert len(lines) > 2 and not lines[0].startswith("#")
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)
    assert all('"msg":"apply request took too long"' in x or "failed to apply" in x for x in lines)


def test_a_capped_area_keeps_the_most_recent_lines_and_says_so(tmp_path, capsys, monkeypatch):
    full = run(tmp_path / "full", capsys)["backend_raw_logs.txt"].splitlines()
    monkeypatch.setattr(outputs, "DETAIL_LINES", 2)
    capped = run(tmp_path / "capped", capsys)["backend_raw_logs.txt"].splitlines()
    assert capped[0] == (
        f"# {len(full) - 2} earlier line(s) in the window are not repeated here: the most recent 2 are; "
        "the bundle has them all"
    )
    assert capped[1:] == full[-2:]


def test_each_log_is_read_back_once_for_the_evidence_and_the_detail_files_together(tmp_path, capsys, monkeypatch):
    from etcd_perf.gather import bundle as bundle_module

    reads: list[int] = []
    real = bundle_module.file_excerpts

    def counting(path, join_partials, wanted, *rest):
        reads.append(len(wanted))
        return real(path, join_partials, wanted, *rest)

    monkeypatch.setattr(bundle_module, "file_excerpts", counting)
    files = run(tmp_path, capsys)
    quoted = {m.group(1) for text in files.values() for m in re.finditer(r"^\S+ \S+ \S+ (\S+):\d+ ", text, re.M)}
    report = json.loads((tmp_path / "analysis.json").read_text())
    cited = {e["file"] for f in report["findings"] for e in f["evidence"] if e["file"] in quoted}
    assert quoted and cited  # the findings cite lines of logs the detail files quote too
    assert len(reads) == len(quoted), reads  # yet each log is read back once


class _Events:
    """What detail_areas reads of a bundle: its events, filtered."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def events_where(self, predicate: pl.Expr, columns: list[str]) -> pl.DataFrame:
        return self.frame.filter(predicate).select(columns)


AREA_KINDS = ["wal_fsync_slow", "apply_slow", "heartbeat_slow"]
ROWS = st.lists(
    st.tuples(
        st.sampled_from(AREA_KINDS),
        st.one_of(st.none(), st.integers(0, 4)),  # seconds: many ties, some undated
        st.sampled_from(["master-1", "master-0"]),
        st.sampled_from(["previous.log", "current.log"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ROWS, st.integers(1, 8))
def test_an_area_keeps_its_most_recent_rows_whatever_their_ties(rows, cap):
    # only the rows that can be among the most recent are sorted: the same rows as a sort of them all
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "ts": [None if s is None else t0 + timedelta(seconds=s) for _, s, _, _ in rows],
            "member": [m for _, _, m, _ in rows],
            "kind": [k for k, _, _, _ in rows],
            "file": [f for _, _, _, f in rows],
            "line": list(range(len(rows), 0, -1)),
        },
        schema={
            "ts": pl.Datetime("us", "UTC"),
            "member": pl.Categorical,
            "kind": pl.Categorical,
            "file": pl.Categorical,
            "line": pl.UInt64,
        },
    )
    with patch.object(outputs, "DETAIL_LINES", cap):
        areas = outputs.detail_areas(_Events(frame), Window(None, None, "all"))
    for name, kinds in outputs.DETAIL_KINDS.items():
        area = frame.filter(pl.col("kind").is_in(kinds))
        want = area.sort("ts", "member", "file", "line").tail(cap)
        kept, left_out = areas[name]
        assert kept.select("ts", "line").rows() == want.select("ts", "line").rows()
        assert left_out == area.height - want.height
