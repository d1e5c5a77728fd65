"""Prometheus samples from a bundle: OpenMetrics dumps and /metrics scrapes, as one polars frame.

`promtool tsdb dump-openmetrics` (what `gather_etcd_more` and `gather_metrics` write) gives one
sample per line, ``name{sorted labels} value ts_seconds``, raw cumulative counters, ``# EOF`` at the
end, sometimes gzipped. A /metrics scrape (Prometheus text format) is one instant with HELP/TYPE
comments and no timestamps (or milliseconds). Both are parsed with vectorised polars expressions.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from etcd_perf.gather.layout import METRIC_FILE_NAMES

SAMPLE_LINE = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?\s*$"
LABELS = {
    "pod": "pod",
    "instance": "instance",
    "le": "le",
    "peer": "To",
    "grpc_method": "grpc_method",
    "grpc_type": "grpc_type",
}

SCHEMA = {
    "name": pl.String(),
    "labels": pl.String(),
    "pod": pl.String(),
    "instance": pl.String(),
    "le": pl.Float64(),
    "peer": pl.String(),
    "grpc_method": pl.String(),
    "grpc_type": pl.String(),
    "value": pl.Float64(),
    "ts_ms": pl.Int64(),
    "source": pl.String(),
}


@dataclass
class MetricsFile:
    file: str
    kind: str  # openmetrics dump | scrape
    samples: int
    series: int
    unparsed: int
    problems: list[str]


def _label(name: str) -> pl.Expr:
    # label values are quoted with \" and \\ escapes; none of the labels we read contains them in practice
    return pl.col("labels").str.extract(rf'(?:^|,)\s*{name}="((?:[^"\\]|\\.)*)"', 1)


def _float(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace(r"^\+?Inf$", "inf").str.replace(r"^-Inf$", "-inf").cast(pl.Float64, strict=False)


SAMPLE_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_TAIL = r"^\s+(\S+)(?:\s+(\S+))?\s*$"  # value and optional timestamp, after the name or labels


def sample_parts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """SAMPLE_LINE's groups of each ``raw`` line as columns "1" name, "2" labels, "3" value and "4"
    timestamp, without its captures on most lines: capturing groups over a whole line cost five times a
    plain match.

    The line is matched without captures; the name is the leading identifier; the labels run from the
    brace after it to the last closing brace; the value and timestamp are captured in the short rest.
    Where that rest is not a value and timestamp (a brace inside a value: a damaged line), the full
    pattern decides, so the result is SAMPLE_LINE's on every line. In stages, each column computed
    once: polars evaluates a reused sub-expression again."""
    raw = pl.col("raw")
    name_len = pl.col("_name").str.len_chars()
    quick = pl.col("_t").struct.field("1").is_not_null()
    return (
        lines.with_columns(_valid=raw.str.contains(SAMPLE_LINE), _name=raw.str.extract(SAMPLE_NAME, 0))
        .with_columns(_braced=pl.col("_valid") & (raw.str.slice(name_len, 1) == "{"))
        .with_columns(
            _tail=pl.when(pl.col("_braced")).then(raw.str.extract(r"\}([^}]*)$", 1)).otherwise(raw.str.slice(name_len))
        )
        .with_columns(_t=pl.when(pl.col("_valid")).then(pl.col("_tail")).str.extract_groups(SAMPLE_TAIL))
        .with_columns(
            _labels=pl.when(pl.col("_braced")).then(
                raw.str.slice(name_len + 1, raw.str.len_chars() - name_len - 2 - pl.col("_tail").str.len_chars())
            ),
            _slow=pl.when(pl.col("_valid") & ~quick).then(raw).str.extract_groups(SAMPLE_LINE),
        )
        .select(
            pl.when(pl.col("_valid")).then(pl.col("_name")).alias("1"),
            pl.coalesce(pl.when(quick).then(pl.col("_labels")), pl.col("_slow").struct.field("2")).alias("2"),
            pl.coalesce(pl.col("_t").struct.field("1"), pl.col("_slow").struct.field("3")).alias("3"),
            pl.coalesce(pl.when(quick).then(pl.col("_t").struct.field("2")), pl.col("_slow").struct.field("4")).alias(
                "4"
            ),
        )
    )


def parse_samples(data: bytes, kind: str, source: str, default_ts: datetime | None) -> tuple[pl.DataFrame, int]:
    """Samples of one file and the number of lines that were neither samples nor comments.

    One lazy query on the streaming engine: a dump is tens to hundreds of MB of text, and only the
    typed samples are kept, never the lines."""
    default_ms = int(default_ts.timestamp() * 1000) if default_ts is not None else None
    # OpenMetrics timestamps are seconds; the Prometheus text format's are milliseconds.
    ts = pl.col("raw_ts") * 1000 if kind == "openmetrics dump" else pl.col("raw_ts")
    lines = pl.scan_lines(data, name="raw").filter(
        ~pl.col("raw").str.starts_with("#") & (pl.col("raw").str.strip_chars() != "")
    )
    parsed = (
        sample_parts(lines)
        .select(
            name=pl.col("1"),
            labels=pl.col("2").fill_null(""),
            value=_float(pl.col("3")),
            raw_ts=pl.col("4").cast(pl.Float64, strict=False),
        )
        .with_columns(_ok=pl.col("name").is_not_null() & pl.col("value").is_not_null())
    )
    frame = (
        parsed.filter(pl.col("_ok") & ~pl.col("value").is_nan())
        .with_columns(
            ts_ms=ts.round(0).cast(pl.Int64, strict=False).fill_null(pl.lit(default_ms, dtype=pl.Int64)),
            source=pl.lit(source),
            **{col: _label(label) for col, label in LABELS.items()},
        )
        .with_columns(le=_float(pl.col("le")))
        .select(list(SCHEMA))
        .cast(SCHEMA)
    )
    bad = parsed.select((~pl.col("_ok")).sum())
    frame, bad = pl.collect_all([frame, bad], engine="streaming")
    return frame, int(bad.item())


def read_metrics_file(path: Path, rel: str, default_ts: datetime | None) -> tuple[pl.DataFrame, MetricsFile]:
    kind = "scrape" if path.name.endswith(".prom") else "openmetrics dump"
    problems: list[str] = []
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
            problems.append("gzip stream truncated; read what was readable")
    try:
        data.decode("utf-8")  # nearly always valid: then parsed as read, with no replaced and re-encoded copy
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    if kind == "openmetrics dump" and data and not data.rstrip().endswith(b"# EOF"):
        problems.append("no '# EOF' line: the dump may be truncated")
    frame, bad = parse_samples(data, kind, rel, default_ts)
    series = frame.select(pl.struct("name", "labels").n_unique()).item() if frame.height else 0
    return frame, MetricsFile(rel, kind, frame.height, int(series), bad, problems)


def find_metric_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and (path.name in METRIC_FILE_NAMES or path.name.endswith(".prom")):
            found.append(path)
    return found
