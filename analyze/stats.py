"""Distribution summaries of logged slow events.

These summarise only the events etcd chose to log (fsyncs over 1 s, applies over their expected
duration): a p99 here is the p99 *of the slow events*, never of all operations. Quantiles use
linear interpolation between closest ranks (numpy's and Prometheus's convention for samples).
"""

from __future__ import annotations

import polars as pl

QUANTILES = {"p50": 0.5, "p99": 0.99}


NS_PER_MS = 1_000_000


def total_ms(ms: pl.Expr, times: pl.Expr | None = None) -> pl.Expr:
    """The sum of durations in milliseconds (each counted ``times`` over), exact to the nanosecond: etcd
    prints durations to the nanosecond, so each is a whole number of them, summed as integers. A float sum
    drifts in its last digits with the rows' order, and a step that groups or joins rows need not keep it."""
    ns = (ms * NS_PER_MS).round().cast(pl.Int64)
    return ((ns if times is None else ns * times).sum() / NS_PER_MS).round(6)


def summary_exprs(value: str) -> list[pl.Expr]:
    col = pl.col(value).drop_nulls()
    return [
        pl.len().alias("count"),
        col.quantile(0.5, "linear").alias("p50"),
        col.quantile(0.99, "linear").alias("p99"),
        col.max().alias("max"),
    ]


def summarize(values: list[float]) -> dict[str, float | int | None]:
    """count, p50, p99 and max of a list of values (None when empty)."""
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Float64})
    row = frame.select(summary_exprs("v")).row(0, named=True)
    return {"count": int(row["count"]), "p50": row["p50"], "p99": row["p99"], "max": row["max"]}


def per_member(events: pl.DataFrame, kinds: list[str], value: str) -> dict[str, dict]:
    """The summary of ``value`` for each member, over events of the given kinds."""
    rows = events.filter(pl.col("kind").is_in(kinds)).group_by("member").agg(summary_exprs(value)).sort("member")
    return {r["member"]: r for r in rows.iter_rows(named=True)}
