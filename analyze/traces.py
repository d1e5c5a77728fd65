"""Where slow requests spend their time: etcd's ``trace[…]`` lines split into their steps.

A trace (logged for requests over 100 ms, zap only) lists steps such as "agreement among raft nodes
before linearized reading" or "range keys from bolt db", each with its duration. Summed per member,
operation and phase they say whether time goes to raft (consensus, ReadIndex), to the index or to
bbolt (disk), or to applying the write.
"""

from __future__ import annotations

import polars as pl

from etcd_perf.analyze.stats import total_ms
from etcd_perf.gather.durations import duration_ms
from etcd_perf.gather.logparse import json_unescape

# "trace[N] '<step>' <fields> (duration: <d>)". A step may hold an apostrophe ("get key's previous
# created_revision and leaseID"): the step ends at the quote that a space follows.
STEP = r"'((?:[^']|'[^ ])+)'.*?\(duration: ([^)]+)\)"
PHASES = {
    "agreement among raft nodes before linearized reading": "raft agreement (ReadIndex)",
    "read index received": "raft agreement (ReadIndex)",
    "applied index is now lower than readState.Index": "raft agreement (ReadIndex)",
    "process raft request": "raft agreement (proposal)",
    "range keys from in-memory index tree": "index lookup",
    "compare": "index lookup",
    "get key's previous created_revision and leaseID": "index lookup",
    "range keys from bolt db": "bolt db read",
    "marshal mvccpb.KeyValue": "apply / put",
    "store kv pair into bolt db": "apply / put",
    "attach lease to kv pair": "apply / put",
    "physically apply compaction": "compaction",
}


# the event columns the decomposition reads (``Bundle.scan("trace", columns=COLUMNS)``)
COLUMNS = ["member", "kind", "op", "steps"]


def decompose(events: pl.DataFrame | pl.LazyFrame) -> dict:
    """Traced time by phase, by member and phase, by operation and phase. ``events`` may be a query: a
    busy cluster traces the same request many times, so each (member, op, steps) is counted first, and
    nothing the size of the traces is ever built (their steps split, row by row, were 200 MB of a 1 GiB
    bundle's peak; a copy of them, 45 MB)."""
    counted = (
        events.lazy()
        .filter((pl.col("kind") == "trace") & pl.col("steps").is_not_null())
        .group_by("member", "op", "steps")
        .agg(pl.len().alias("times"))
        .collect()
    )
    traces = int(counted["times"].sum())
    # each distinct list of steps is split once
    split = (
        counted.select("steps")
        .unique()
        .lazy()
        .with_columns(step=pl.col("steps").str.extract_all(STEP))
        .explode("step")
        .filter(pl.col("step").is_not_null())
        .with_columns(parts=pl.col("step").str.extract_groups(STEP))  # one regex pass, both groups
        .select(
            "steps",
            # the steps are kept as the line's JSON text: escapes ("\u00b5s" from an ASCII-only writer) decoded here
            name=json_unescape(pl.col("parts").struct.field("1")),
            ms=duration_ms(json_unescape(pl.col("parts").struct.field("2"))),
        )
        .with_columns(phase=pl.col("name").replace_strict(PHASES, default="other"))
    )
    # a step's time counts once per trace that logged it
    steps = counted.lazy().join(split, on="steps").select("member", "op", "phase", "times", "ms").collect()
    if steps.height == 0:
        return {"traces": traces, "by_phase": [], "by_member_phase": [], "by_op_phase": []}

    def table(by: list[str]) -> list[dict]:
        rows = (
            steps.group_by(by)
            .agg(
                pl.col("times").sum().alias("steps"),
                total_ms(pl.col("ms"), pl.col("times")).alias("total_ms"),
                pl.col("ms").max().alias("max_ms"),
            )
            .with_columns(
                share_pct=(100 * pl.col("total_ms") / pl.col("total_ms").sum().over(by[:-1] or None)).round(1)
                if len(by) > 1
                else (100 * pl.col("total_ms") / pl.col("total_ms").sum()).round(1)
            )
            .sort([*by[:-1], "total_ms"], descending=[False] * (len(by) - 1) + [True])
        )
        return rows.to_dicts()

    return {
        "traces": traces,
        "note": "steps of requests etcd traced (over 100 ms); shares are of the traced time",
        "by_phase": table(["phase"]),
        "by_member_phase": table(["member", "phase"]),
        "by_op_phase": table(["op", "phase"]),
    }
