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

SAMPLE_LINE = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?\s*$"
LABELS = {
    "pod": "pod",
    "instance": "instance",
    "le": "le",
    "peer": "To",
    "grpc_method": "grpc_method",
    "grpc_type": "grpc_type",
}
METRIC_FILE_NAMES = ("metrics.openmetrics", "metrics.openmetrics.gz")

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


def parse_samples(data: bytes, kind: str, source: str, default_ts: datetime | None) -> tuple[pl.DataFrame, int]:
    """Samples of one file and the number of lines that were neither samples nor comments."""
    lines = pl.scan_lines(data, name="raw")
    parsed = (
        lines.filter(~pl.col("raw").str.starts_with("#") & (pl.col("raw").str.strip_chars() != ""))
        .with_columns(m=pl.col("raw").str.extract_groups(SAMPLE_LINE))
        .with_columns(
            name=pl.col("m").struct.field("1"),
            labels=pl.col("m").struct.field("2").fill_null(""),
            value=_float(pl.col("m").struct.field("3")),
            raw_ts=pl.col("m").struct.field("4").cast(pl.Float64, strict=False),
        )
        .collect()
    )
    bad = parsed.filter(pl.col("name").is_null() | pl.col("value").is_null()).height
    default_ms = int(default_ts.timestamp() * 1000) if default_ts is not None else None
    # OpenMetrics timestamps are seconds; the Prometheus text format's are milliseconds.
    ts = pl.col("raw_ts") * 1000 if kind == "openmetrics dump" else pl.col("raw_ts")
    frame = parsed.filter(pl.col("name").is_not_null() & pl.col("value").is_not_null() & ~pl.col("value").is_nan())
    frame = frame.with_columns(
        ts_ms=ts.round(0).cast(pl.Int64, strict=False).fill_null(pl.lit(default_ms, dtype=pl.Int64)),
        source=pl.lit(source),
        **{col: _label(label) for col, label in LABELS.items()},
    ).with_columns(le=_float(pl.col("le")))
    return frame.select(list(SCHEMA)).cast(SCHEMA), bad


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
    text = data.decode("utf-8", errors="replace")
    if kind == "openmetrics dump" and text and not text.rstrip().endswith("# EOF"):
        problems.append("no '# EOF' line: the dump may be truncated")
    frame, bad = parse_samples(text.encode("utf-8"), kind, rel, default_ts)
    series = frame.select(pl.struct("name", "labels").n_unique()).item() if frame.height else 0
    return frame, MetricsFile(rel, kind, frame.height, int(series), bad, problems)


def find_metric_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and (path.name in METRIC_FILE_NAMES or path.name.endswith(".prom")):
            found.append(path)
    return found
