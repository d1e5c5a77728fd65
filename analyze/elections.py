"""The cluster's election timeline: one row per raft term that got a leader.

Every member logs the same election ("became leader", "elected leader", "changed leader"), and
a restarted member logs the current term again: counting log lines over-counts. Grouping by
term counts each election once, whoever saw it, and keeps who saw it and who campaigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

LEADER_KINDS = ["raft_became_leader", "raft_leader_elected", "raft_leader_changed"]


@dataclass
class Election:
    term: int
    leader_id: str
    leader: str
    ts: datetime | None
    previous_leader: str | None
    observed_by: list[str]
    candidates: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)


def _name(ids: dict[str, str], hex_id: str | None) -> str | None:
    if hex_id is None:
        return None
    return ids.get(hex_id, hex_id)


def election_timeline(events: pl.DataFrame, id_names: dict[str, str]) -> list[Election]:
    lead = events.filter(pl.col("kind").is_in(LEADER_KINDS) & pl.col("term").is_not_null())
    if lead.height == 0:
        return []
    lead = lead.with_columns(
        leader_hex=pl.when(pl.col("kind") == "raft_became_leader")
        .then(pl.col("self_id"))
        .otherwise(pl.col("leader_id"))
    ).sort("term", "ts", "member", "line", nulls_last=True)
    terms = lead.group_by("term", maintain_order=True).agg(
        pl.col("leader_hex").first(),
        pl.col("ts").min(),
        pl.col("member").unique().sort().alias("observed_by"),
        pl.col("file").first(),
        pl.col("line").first(),
        pl.col("ts").first().alias("evidence_ts"),
    )
    campaigns = (
        events.filter((pl.col("kind") == "raft_became_candidate") & pl.col("term").is_not_null())
        .group_by("term")
        .agg(pl.col("member").unique().sort().alias("candidates"))
    )
    terms = terms.join(campaigns, on="term", how="left").sort("term")
    out: list[Election] = []
    previous: str | None = None
    for row in terms.iter_rows(named=True):
        leader = _name(id_names, row["leader_hex"]) or "?"
        out.append(
            Election(
                term=int(row["term"]),
                leader_id=row["leader_hex"],
                leader=leader,
                ts=row["ts"],
                previous_leader=previous,
                observed_by=list(row["observed_by"]),
                candidates=list(row["candidates"] or []),
                evidence={
                    "file": row["file"],
                    "line": row["line"],
                    "ts": row["evidence_ts"],
                    "excerpt": None,
                },
            )
        )
        previous = leader
    return out


DISK_NEAR = timedelta(seconds=10)  # a slow disk shows as repeated slow fsyncs this close to an election


def fsync_spans(fsync: dict, at: datetime) -> bool:
    """Whether a logged slow fsync was in flight at ``at``: it started ``took_ms`` before it was logged."""
    started = fsync["ts"] - timedelta(milliseconds=fsync["took_ms"] or 0)
    return started <= at <= fsync["ts"]


QUIET_MARGIN = timedelta(milliseconds=50)
DISK_STREAK = timedelta(seconds=1)  # WAL fsyncs run back to back: the one before ends as the next starts


def paused_through(fsync: dict, member_events: pl.DataFrame, at: datetime) -> bool:
    """Whether the old leader was paused (SIGSTOP, a VM freeze) mid-fsync rather than on a slow disk.

    Both leave one slow fsync spanning the election. On a slow disk the process keeps running and
    logs while its fsync crawls (ReadIndex retries, slow requests); a paused process logs nothing at
    all until it wakes. Seen in the lab: throttled-disk fsyncs mostly had 3 to 17 events inside them,
    frozen ones none. A throttled disk can also leave a quiet fsync (nothing else to log meanwhile),
    but then the fsync before it was slow too, ending just as this one began, or slow ones follow it:
    the disk was slow, which a pause does not explain.
    """
    if not fsync_spans(fsync, at):
        return False
    started = fsync["ts"] - timedelta(milliseconds=fsync["took_ms"] or 0)
    inside = member_events.filter(pl.col("ts").is_between(started + QUIET_MARGIN, fsync["ts"] - QUIET_MARGIN))
    if inside.height:
        return False
    slow_before = member_events.filter(
        (pl.col("kind") == "wal_fsync_slow") & pl.col("ts").is_between(started - DISK_STREAK, started + QUIET_MARGIN)
    )
    # the first slow fsync of a disk that has just turned slow is quiet too; but that disk stays slow after
    # it, while a paused process wakes to a disk as fast as before (seen in a fresh lab run: a 2-IOPS throttle
    # began as the leader's fsync did, 1.03 s with nothing logged, then fsyncs of 7.7 s and 1.5 s followed)
    slow_after = member_events.filter(
        (pl.col("kind") == "wal_fsync_slow")
        & pl.col("ts").is_between(fsync["ts"] + QUIET_MARGIN, fsync["ts"] + DISK_NEAR)
    )
    return slow_before.height == 0 and slow_after.height == 0


def frozen_fsyncs(events: pl.DataFrame, fsyncs: pl.DataFrame, elections: list[Election]) -> dict[str, int]:
    """Per member, the logged slow fsyncs that were a paused process, not a slow disk: a leader frozen
    mid-fsync wakes to an fsync that completes "slow", spanning the election the others held without
    it. (The loop runs over elections, a handful, never over log lines.)"""
    frozen: dict[str, int] = {}
    for e in elections:
        old = e.previous_leader
        if old is None or e.ts is None or old == e.leader:
            continue
        mine = events.filter((pl.col("member") == old) & pl.col("ts").is_not_null())
        near = fsyncs.filter((pl.col("member") == old) & (pl.col("ts") - e.ts).abs().le(DISK_NEAR))
        if any(paused_through(row, mine, e.ts) for row in near.iter_rows(named=True)):
            frozen[old] = frozen.get(old, 0) + 1
    return frozen
