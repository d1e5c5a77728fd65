#!/usr/bin/env python3
"""Build big Prometheus dumps from real samples, shaped as promtool writes them.

- ``etcd``: the sample bundle's real dump (``bundles/sample/etcd_info/metrics.openmetrics.gz``, what the
  lab's real Prometheus recorded) repeated forward in time: each repetition starts one scrape interval after
  the last one ends, counters carry on from where they were (so nothing looks like a restart) and gauges
  repeat. Each series keeps all its samples together, in time order, as ``promtool tsdb dump-openmetrics``
  writes a series.
- ``cluster``: the same etcd series plus ``--others`` times as many samples of other families, as
  OpenShift 4.18+ ``gather_metrics`` dumps the whole cluster into one file. The other families are real too:
  every family a real etcd exposes that the analysis does not read (go_*, process_*, etcd_debugging_*,
  grpc_server_msg_*, ...), recorded by the lab's Prometheus (``benchmarks/data/lab-other-families.
  openmetrics.gz``, made by ``scripts/lab/record_other_families.py``), repeated forward in time the same way.
  Families come in name order, as promtool sorts series by their labels (``__name__`` first).

Built with polars (vectorised; the benchmark's tool, not the analysis).

    metrics_corpus.py OUT_FILE --samples 5500000 [--others 10] [--gzip]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DUMP = REPO / "bundles" / "sample" / "etcd_info" / "metrics.openmetrics.gz"
OTHER_FAMILIES = REPO / "benchmarks" / "data" / "lab-other-families.openmetrics.gz"
COUNTER = r"_(bucket|total|sum|count)$"


def _samples(path: Path) -> pl.DataFrame:
    """One row per sample: the series text (name and labels), its name, value and timestamp (ms)."""
    text = gzip.decompress(path.read_bytes())
    return (
        pl.DataFrame({"raw": text.decode().splitlines()})
        .filter(~pl.col("raw").str.starts_with("#") & (pl.col("raw") != ""))
        .select(
            series=pl.col("raw").str.extract(r"^(.*?)\s+\S+\s+\S+$", 1),
            name=pl.col("raw").str.extract(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", 1),
            value=pl.col("raw").str.extract(r"\s(\S+)\s+\S+$", 1).cast(pl.Float64),
            ts_ms=(pl.col("raw").str.extract(r"\s(\S+)$", 1).cast(pl.Float64) * 1000).round(0).cast(pl.Int64),
        )
        .with_row_index("i")
    )


def _repeated(base: pl.DataFrame, repeats: int, step_ms: int, first_ms: int) -> pl.DataFrame:
    """``base`` repeated ``repeats`` times forward in time, starting at ``first_ms``, counters carried on."""
    lo, hi = int(base["ts_ms"].min()), int(base["ts_ms"].max())
    span = hi - lo + step_ms
    last = base.sort("ts_ms").group_by("series").agg(pl.col("value").last().alias("carry"))
    order = base.group_by("series").agg(pl.col("i").min().alias("first_seen"), pl.col("name").first())
    return (
        base.join(last, on="series")
        .join(pl.DataFrame({"r": range(repeats)}, schema={"r": pl.Int64}), how="cross")
        .join(order.drop("name"), on="series")
        .with_columns(
            ts_ms=pl.col("ts_ms") - lo + first_ms + pl.col("r") * span,
            value=pl.when(pl.col("name").str.contains(COUNTER))
            .then(pl.col("value") + pl.col("r") * pl.col("carry"))
            .otherwise(pl.col("value")),
        )
        .sort("name", "first_seen", "ts_ms")  # promtool: families in name order, each series' samples together
        .select("series", "name", "value", "ts_ms")
    )


def _lines(frame: pl.DataFrame) -> pl.Series:
    integral = pl.col("value") == pl.col("value").floor()
    value = (
        pl.when(pl.col("value").is_infinite())
        .then(pl.when(pl.col("value") > 0).then(pl.lit("+Inf")).otherwise(pl.lit("-Inf")))
        .when(integral & (pl.col("value").abs() < 1e15))
        .then(pl.col("value").cast(pl.Int64).cast(pl.String))
        .otherwise(pl.col("value").cast(pl.String))
    )
    seconds = pl.concat_str(
        (pl.col("ts_ms") // 1000).cast(pl.String), pl.lit("."), (pl.col("ts_ms") % 1000).cast(pl.String).str.zfill(3)
    )
    return frame.select(pl.concat_str("series", pl.lit(" "), value, pl.lit(" "), seconds))["series"]


def build(out: Path, samples: int, others: int, compress: bool) -> dict:
    etcd = _samples(SAMPLE_DUMP)
    step = 1000  # the lab scraped every second
    first = int(etcd["ts_ms"].min())
    parts = [_repeated(etcd, max(1, round(samples / etcd.height)), step, first)]
    if others:
        other = _samples(OTHER_FAMILIES)
        other = other.filter(~pl.col("name").is_in(etcd["name"].unique().implode()))
        want = others * parts[0].height
        parts.append(_repeated(other, max(1, round(want / other.height)), step, first).head(want))
    frame = pl.concat(parts).sort("name", maintain_order=True)
    text = "\n".join(_lines(frame).to_list()) + "\n# EOF\n"
    data = text.encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(data, compresslevel=6) if compress else data)
    etcd_samples = parts[0].height
    return {
        "file": str(out),
        "bytes": out.stat().st_size,
        "text_bytes": len(data),
        "samples": frame.height,
        "etcd_samples": etcd_samples,
        "other_samples": frame.height - etcd_samples,
        "families": frame["name"].n_unique(),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--samples", type=int, default=5_500_000, help="etcd samples (the sample's dump, repeated)")
    p.add_argument("--others", type=int, default=0, help="this many times as many samples of other families")
    p.add_argument("--gzip", action="store_true")
    args = p.parse_args(argv)
    info = build(args.out, args.samples, args.others, args.gzip)
    print(json.dumps(info), file=sys.stderr)


if __name__ == "__main__":
    main()
