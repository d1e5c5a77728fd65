"""Prometheus data in bundles: OpenMetrics dumps (plain and gzipped) and /metrics scrapes."""

import gzip
from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.gather.metrics import SAMPLE_LINE, parse_samples, read_metrics_file, sample_parts

# Lines as the lab's Prometheus dump writes them (promtool dump-openmetrics format)
DUMP = """\
etcd_disk_wal_fsync_duration_seconds_bucket{instance="10.0.0.1:9979",job="etcd",le="0.001",namespace="openshift-etcd",pod="etcd-m0"} 86 1795692776.965
etcd_disk_wal_fsync_duration_seconds_bucket{instance="10.0.0.1:9979",job="etcd",le="+Inf",namespace="openshift-etcd",pod="etcd-m0"} 90 1795692776.965
etcd_network_peer_round_trip_time_seconds_bucket{To="d622127685879b3c",job="etcd",le="0.0002",pod="etcd-m0"} 3 1795692777.5
# EOF
"""
# Lines of a real etcd 3.5.16 /metrics scrape (the lab)
SCRAPE = """\
# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.
# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
grpc_server_handling_seconds_bucket{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary",le="0.005"} 1077
etcd_server_proposals_failed_total 3 1700000000000
"""


def test_openmetrics_dump_labels_values_and_seconds(tmp_path):
    p = tmp_path / "metrics.openmetrics"
    p.write_text(DUMP)
    frame, meta = read_metrics_file(p, "etcd_info/metrics.openmetrics", None)
    assert (meta.kind, meta.samples, meta.series, meta.unparsed, meta.problems) == ("openmetrics dump", 3, 3, 0, [])
    row = frame.row(1, named=True)
    assert (row["pod"], row["instance"], row["le"], row["value"], row["ts_ms"]) == (
        "etcd-m0",
        "10.0.0.1:9979",
        float("inf"),
        90.0,
        1795692776965,
    )
    assert frame.row(2, named=True)["peer"] == "d622127685879b3c"


def test_gzipped_dump_and_missing_eof_is_noted(tmp_path):
    p = tmp_path / "metrics.openmetrics.gz"
    p.write_bytes(gzip.compress(DUMP.replace("# EOF\n", "").encode()))
    frame, meta = read_metrics_file(p, "x", None)
    assert frame.height == 3 and any("EOF" in problem for problem in meta.problems)


def test_scrape_without_timestamps_takes_the_collection_time(tmp_path):
    p = tmp_path / "etcd-m1.prom"
    p.write_text(SCRAPE)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    frame, meta = read_metrics_file(p, "etcd_info/scrapes/etcd-m1.prom", at)
    assert meta.kind == "scrape" and meta.samples == 3
    assert frame["ts_ms"].to_list() == [1767225600000, 1767225600000, 1700000000000]  # text format: ms
    assert frame.filter(pl.col("grpc_method") == "Range")["grpc_type"][0] == "unary"


def test_junk_lines_are_counted_not_fatal():
    frame, bad = parse_samples(b"not a sample line at all\nx{ 1\netcd_up 1 12\n", "openmetrics dump", "s", None)
    assert frame.height == 1 and bad == 2


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=80),
        max_size=15,
    )
)
def test_any_text_parses_without_error(lines):
    frame, bad = parse_samples("".join(line + "\n" for line in lines).encode(), "openmetrics dump", "s", None)
    assert frame.height + bad <= len(lines)


SAMPLE_PIECES = st.sampled_from(
    [
        "m",
        "etcd_x_total",
        "{",
        "}",
        '"',
        "=",
        ",",
        "le",
        '"0.5"',
        " ",
        "\t",
        "  ",
        "1",
        "2.5",
        "+Inf",
        "-1e3",
        "é",
        "x y",
    ]
)


TOKEN = st.text(alphabet='ab1.} "{=,\té', max_size=6)
# shaped like a sample, with braces, quotes and blanks where they make the split ambiguous
SHAPED = st.builds(
    lambda name, labels, sep, value, ts: f"{name}{labels}{sep}{value}{ts}",
    st.sampled_from(["m", "etcd_x_total", "", "1m"]),
    st.one_of(st.just(""), st.builds(lambda t: "{" + t + "}", TOKEN)),
    st.sampled_from([" ", "\t", "  ", ""]),
    TOKEN,
    st.one_of(st.just(""), TOKEN.map(lambda t: " " + t)),
)


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(
        st.one_of(SHAPED, st.lists(SAMPLE_PIECES, max_size=12).map("".join)),
        min_size=1,
        max_size=20,
    )
)
def test_sample_parts_are_the_sample_patterns_groups_on_any_line(lines):
    """The fast split of a sample line (a plain match, then captures only in the short rest) gives
    exactly what the full pattern's captures give, on well-formed and damaged lines alike."""
    frame = pl.DataFrame({"raw": lines})
    fast = sample_parts(frame.lazy()).collect()
    full = frame.select(pl.col("raw").str.extract_groups(SAMPLE_LINE).alias("m")).unnest("m")
    assert fast.equals(full), pl.concat([frame, fast.rename(lambda c: "fast" + c), full], how="horizontal")


# ------------------------------------------------------------------------------ reading only some families

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from etcd_perf.analyze.metric_measures import FAMILIES  # noqa: E402
from etcd_perf.gather import metrics as M  # noqa: E402
from tests.factory import SAMPLE  # noqa: E402

SAMPLE_DUMP = SAMPLE / "etcd_info" / "metrics.openmetrics.gz"


def _real_series() -> dict[str, list[str]]:
    """The sample's real dump, by family: each family's lines in order (series together, as promtool)."""
    by: dict[str, list[str]] = {}
    for line in gzip.decompress(SAMPLE_DUMP.read_bytes()).decode().splitlines():
        if line and not line.startswith("#"):
            by.setdefault(line.split("{", 1)[0].split(" ", 1)[0], []).append(line)
    return by


REAL = _real_series()


def _read(path, families, block=None, monkeypatch=None):
    if block is not None:
        monkeypatch.setattr(M, "BLOCK_BYTES", block)
    return read_metrics_file(path, "m", None, families)


@pytest.mark.parametrize("block", [None, 1 << 16])
@pytest.mark.parametrize("gz", [False, True])
def test_only_the_families_read_are_kept_and_the_file_is_counted_whole(tmp_path, monkeypatch, block, gz):
    """Skipping a family by its name keeps every sample of the families read, in file order, and counts
    the file's samples and series as a full parse does, across block boundaries and in gzip too."""
    text = SAMPLE_DUMP.read_bytes()
    p = tmp_path / ("metrics.openmetrics.gz" if gz else "metrics.openmetrics")
    p.write_bytes(text if gz else gzip.decompress(text))
    full, meta_full = read_metrics_file(p, "m", None)
    part, meta_part = _read(p, FAMILIES, block, monkeypatch)
    assert (meta_part.samples, meta_part.series, meta_part.unparsed) == (
        meta_full.samples,
        meta_full.series,
        meta_full.unparsed,
    )
    assert meta_full.samples == sum(len(v) for v in REAL.values())
    kept = full.filter(pl.col("name").is_in(list(FAMILIES)))
    assert part.height == kept.height > 0
    assert part.cast(M.SCHEMA).equals(kept.cast(M.SCHEMA))
    assert "grpc_server_handled_total" not in set(part["name"].cast(pl.String).to_list())


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(sorted(REAL)),
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=len(REAL), max_size=len(REAL)),
    read=st.sets(st.sampled_from(sorted(REAL))),
    block=st.sampled_from([256, 1024, 8192]),
    junk=st.sampled_from(["", "not a sample line at all\n", "x{ 1\n", "\n"]),
    headed=st.booleans(),
    name=st.sampled_from(["metrics.openmetrics", "etcd-m1.prom"]),
)
def test_any_family_contiguous_dump_reads_as_a_full_parse_filtered(order, sizes, read, block, junk, headed, name):
    """Real lines, families in any order and length, a damaged line anywhere between families, each
    family headed by its HELP and TYPE comments or not (a /metrics scrape's are): the families read
    equal the full parse's, and the counts equal it too."""
    import tempfile

    def head(f: str) -> str:
        return f"# HELP {f} what it is.\n# TYPE {f} counter\n" if headed else ""

    body = "".join(
        junk * (i % 2) + head(f) + "".join(line + "\n" for line in REAL[f][:n])
        for i, (f, n) in enumerate(zip(order, sizes, strict=True))
    )
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        p = Path(tmp) / name
        p.write_text(body + "# EOF\n")
        full, meta_full = read_metrics_file(p, "m", None)
        part, meta_part = _read(p, sorted(read), block, mp)
    assert (meta_part.samples, meta_part.series, meta_part.unparsed) == (
        meta_full.samples,
        meta_full.series,
        meta_full.unparsed,
    )
    assert part.cast(M.SCHEMA).equals(full.filter(pl.col("name").is_in(sorted(read))).cast(M.SCHEMA))


def test_a_gzip_of_several_members_and_a_truncated_one(tmp_path, monkeypatch):
    lines = "".join(line + "\n" for line in REAL["etcd_disk_wal_fsync_duration_seconds_bucket"])
    p = tmp_path / "metrics.openmetrics.gz"
    p.write_bytes(gzip.compress(lines.encode()) + gzip.compress(b"# EOF\n"))
    frame, meta = _read(p, FAMILIES, 4096, monkeypatch)
    assert frame.height == lines.count("\n") and meta.problems == []
    data = gzip.compress((lines + "# EOF\n").encode())
    p.write_bytes(data[: len(data) // 2])
    frame, meta = _read(p, FAMILIES, 4096, monkeypatch)
    assert 0 < frame.height < lines.count("\n") and M.TRUNCATED in meta.problems
