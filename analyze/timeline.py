"""Per member per minute: slow-event bursts next to what else happened then.

A latency burst that lines up with a defrag, a compaction, a snapshot, a restart or lost peer
streams has an explanation; one that lines up with nothing points at the disk or the node.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from etcd_perf.analyze.measures import in_window, within
from etcd_perf.analyze.window import Window

CATEGORIES = {
    "slow": ["wal_fsync_slow", "apply_slow", "heartbeat_slow", "readindex_slow", "readindex_timeout"],
    "election": ["raft_became_leader", "raft_leader_lost", "raft_election_start"],
    "compaction": ["compaction_finished", "compaction_failed"],
    "defrag": ["defrag_started", "defrag_finished", "defrag_failed"],
    "snapshot": ["snapshot_saved", "snapshot_sent"],
    "restart": ["server_start", "server_shutdown", "fatal_error"],
    "alarm": ["alarm_raised", "quota_exceeded", "health_alarm"],
    "network": ["peer_unhealthy", "stream_lost", "peer_inactive", "message_dropped"],
    "clock": ["clock_drift"],
    # the platform stopping a member (a static-pod rollout, a node reboot): from analyze/rollouts.py
    "platform": [],
}
CONTEXT = [c for c in CATEGORIES if c not in ("slow", "election")]


def minutes(
    events: pl.DataFrame, window: Window, platform_stops: list[tuple[str, datetime, datetime | None]] | None = None
) -> pl.DataFrame:
    """member, minute, and a count per category (zero where nothing happened). ``platform_stops``: (member,
    stopped, back) of each stop the platform made: every minute the member was away counts once in the
    "platform" category."""
    kind_to_cat = {k: cat for cat, kinds in CATEGORIES.items() for k in kinds}
    rows = events.filter(in_window(window) & pl.col("kind").is_in(list(kind_to_cat)) & pl.col("ts").is_not_null())
    away = [(m, t) for m, stopped, back in platform_stops or [] for t in _minutes_of(stopped, back or stopped)]
    stops = pl.DataFrame(
        [(m, t) for m, t in away if within(t, window)],
        schema={"member": pl.String, "ts": pl.Datetime("us", "UTC")},
        orient="row",
    ).unique()
    if rows.height == 0 and stops.height == 0:
        return pl.DataFrame(
            schema={"member": pl.String, "minute": pl.Datetime("us", "UTC"), **{c: pl.UInt32 for c in CATEGORIES}}
        )
    # counted per member, minute and kind on their codes first (a 1 GiB bundle's 1.9 M events as text were
    # 150 MB); the few counts are then named and summed into categories
    by_kind = (
        rows.lazy()
        .group_by("member", pl.col("ts").dt.truncate("1m").alias("minute"), "kind")
        .len()
        .select(
            pl.col("member").cast(pl.String),
            "minute",
            pl.col("kind").cast(pl.String).replace_strict(kind_to_cat).alias("category"),
            "len",
        )
    )
    counted = (
        pl.concat(
            [
                by_kind,
                stops.lazy().select(
                    "member",
                    pl.col("ts").dt.truncate("1m").alias("minute"),
                    category=pl.lit("platform"),
                    len=pl.lit(1, dtype=pl.UInt32),
                ),
            ]
        )
        .group_by("member", "minute", "category")
        .agg(pl.col("len").sum())
        .collect()
    )
    wide = counted.pivot(on="category", index=["member", "minute"], values="len").fill_null(0)
    for c in CATEGORIES:
        if c not in wide.columns:
            wide = wide.with_columns(pl.lit(0, dtype=pl.UInt32).alias(c))
    return wide.select("member", "minute", *[pl.col(c).cast(pl.UInt32) for c in CATEGORIES]).sort("minute", "member")


def correlations(per_minute: pl.DataFrame, top: int = 5) -> list[dict]:
    """The worst slow-event minutes and what coincided with them, on the member or elsewhere."""
    if per_minute.height == 0:
        return []
    worst = per_minute.filter(pl.col("slow") > 0).sort(["slow", "minute", "member"], descending=[True, False, False])
    out = []
    for r in worst.head(top).iter_rows(named=True):
        same = per_minute.filter(pl.col("minute") == r["minute"])
        context = []
        for c in CONTEXT:
            here = r[c]
            others = same.filter(pl.col("member") != r["member"]).select(pl.col(c).sum()).item()
            what = "a rollout or reboot stopping" if c == "platform" else f"{c} on"
            if here:
                context.append(f"{what} {r['member']}")
            if others:
                context.append(f"{what} other members")
        if r["election"] or same["election"].sum():
            context.append("an election")
        out.append(
            {
                "member": r["member"],
                "minute": r["minute"],
                "slow_events": r["slow"],
                "coincides_with": context or ["nothing else logged: disk or node trouble"],
            }
        )
    return out


def _minutes_of(start: datetime, end: datetime) -> list[datetime]:
    """The minutes from the one holding ``start`` to the one holding ``end`` (a platform stop: a few)."""
    first = start.replace(second=0, microsecond=0)
    count = int((end - first).total_seconds() // 60) + 1 if end >= first else 1
    return [first + timedelta(minutes=i) for i in range(min(count, 24 * 60))]
