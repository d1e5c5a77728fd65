"""Per-member and cluster measures ("signals") that the rules judge.

A signal is a number or None. None means *not measured* (no source in this bundle), which the
rules report as such: it never passes silently. Log-derived latencies summarise logged slow
events only and are named so (``wal_fsync_slow_*``, ``slow_apply_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from etcd_perf.analyze import metric_measures
from etcd_perf.analyze.elections import DISK_NEAR, LEADER_KINDS, Election, election_timeline, frozen_fsyncs
from etcd_perf.analyze.membership import membership_problems
from etcd_perf.analyze.rollouts import (
    Outage,
    Rollout,
    build_outages,
    build_rollouts,
    outage_at_election,
    outage_of_restart,
    platform_rules,
)
from etcd_perf.analyze.stats import per_member
from etcd_perf.analyze.units import fmt_span, fmt_value
from etcd_perf.analyze.window import Window
from etcd_perf.gather.bundle import Bundle
from etcd_perf.gather.etcd_info import EndpointHealth, EndpointStatus, is_local_socket

NETWORK_KINDS = ["peer_unhealthy", "message_dropped", "stream_lost", "peer_inactive"]
# Signals that only metrics can give; the logs never carry them (see the catalogue's notes).
METRIC_ONLY_SIGNALS = ("wal_fsync_p99_ms", "backend_commit_p99_ms", "peer_rtt_p99_ms")


@dataclass
class MemberView:
    name: str
    id: int | None
    id_hex: str | None
    pod: str | None
    endpoint: str | None
    version: str | None
    is_leader: bool | None
    is_learner: bool
    alarms: list[str]
    health: EndpointHealth | None
    status: EndpointStatus | None
    log_first: datetime | None
    log_last: datetime | None
    restart_times: list[datetime] = field(default_factory=list)
    tuning: dict[str, str] = field(default_factory=dict)
    signals: dict[str, float | int | str | None] = field(default_factory=dict)
    # what this member saw of each peer, by peer name (hex ID where no name is known): its network
    # warnings about that peer by kind (logs, window) and its round-trip p99 to it (metrics)
    peer_warnings: dict[str, dict[str, int]] = field(default_factory=dict)
    peer_rtt_p99_ms: dict[str, float] = field(default_factory=dict)
    restarts_in_window: list[datetime] = field(default_factory=list)
    # restarts the platform made (a rollout's new pod, a node reboot): (time, the outage it ended)
    planned_restarts: list[tuple[datetime, Outage]] = field(default_factory=list)
    # a restart whose predecessor's log is not in the bundle: its log begins with etcd starting on a data
    # dir it already had ("restarting local member"), and no earlier log of it is there
    restart_without_previous_log: datetime | None = None
    # kind -> (first, last) time this member logged it in the window: since when, and until when
    spans: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)


@dataclass
class ClusterView:
    members: list[MemberView]
    elections: list[Election]
    elections_in_window: list[Election]
    signals: dict[str, float | int | None]
    leader: str | None
    outside_window: dict[str, int]
    alarm_names: list[str] = field(default_factory=list)
    alarm_members: list[str] = field(default_factory=list)
    metrics: metric_measures.MetricMeasures = field(default_factory=metric_measures.MetricMeasures)
    rollouts: list[Rollout] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)  # members the platform stopped (rollouts, reboots)
    planned_elections: dict[int, Outage] = field(default_factory=dict)  # term -> the stop it followed


def in_window(window: Window) -> pl.Expr:
    cond = pl.lit(True)
    if window.start is not None:
        cond = cond & (pl.col("ts") >= window.start)
    if window.end is not None:
        cond = cond & (pl.col("ts") <= window.end)
    return cond & pl.col("ts").is_not_null() if (window.start or window.end) else cond


def _member_ids(bundle: Bundle) -> dict[str, int]:
    ids = {m.name: m.id for m in bundle.info.members if m.name}
    for hex_id, name in bundle.id_names.items():
        ids.setdefault(name, int(hex_id, 16))
    return ids


def _endpoint_of(bundle: Bundle, member_id: int | None) -> str | None:
    for m in bundle.info.members:
        urls = [u for u in m.client_urls if not is_local_socket(u)]
        if m.id == member_id and urls:
            return urls[0]
    for st in bundle.info.status:
        if st.member_id == member_id:
            return st.endpoint
    return None


def _health_of(bundle: Bundle, member_id: int | None, endpoint: str | None) -> EndpointHealth | None:
    urls = set()
    for m in bundle.info.members:
        if m.id == member_id:
            urls.update(m.client_urls)
    if endpoint:
        urls.add(endpoint)
    for h in bundle.info.health:
        if h.endpoint in urls and not is_local_socket(h.endpoint):
            return h
    return None


def _leader_id(bundle: Bundle) -> int | None:
    votes: dict[int, int] = {}
    for st in bundle.info.status:
        if st.leader:
            votes[st.leader] = votes.get(st.leader, 0) + 1
    if not votes:
        return None
    return max(sorted(votes), key=lambda k: votes[k])


def _restarted_without_previous_log(bundle: Bundle, member: str) -> datetime | None:
    """When the member's earliest log begins with etcd starting again on its own data dir (a restart whose
    predecessor's log is absent: a new pod, whose old pod's log the bundle does not have), else None.

    "Begins with": nothing but the container's preamble and start-up lines before "restarting local
    member". A member's first ever start ("starting local member", a new data dir) is not a restart."""
    files = sorted((f for f in bundle.log_files if f.member == member and f.stats.lines), key=lambda f: f.order)
    if not files:
        return None
    first = files[0].file
    restarting = bundle.of("member_restarting", columns=["ts", "file"]).filter(
        (pl.col("member") == member) & (pl.col("file") == first)
    )
    if restarting.height == 0:
        return None
    at = restarting["line"].min()
    before = bundle.events_where(
        (pl.col("member") == member)
        & (pl.col("file") == first)
        & (pl.col("line") < at)
        & ~pl.col("kind").is_in(START_KINDS),
        ["line"],
    )
    if before.height:
        return None
    starts = bundle.of("server_start", columns=["ts", "file"]).filter(
        (pl.col("member") == member) & (pl.col("file") == first)
    )
    when = starts.filter(pl.col("line") <= at)["ts"].max() if starts.height else None
    return when or restarting["ts"].min()


# what a log holds before etcd restarts on its data dir: the preamble and etcd's start-up lines
START_KINDS = ["preamble", "preamble_member", "preamble_env", "server_start", "server_identity", "member_restarting"]


def _restart_times(
    bundle: Bundle, member: str, outages: list[Outage]
) -> tuple[int, list[datetime], list[tuple[datetime, Outage]], datetime | None]:
    """(count, times) of the member's unplanned restarts, its planned ones (each with the platform stop it
    came back from) and the time of a restart whose predecessor's log is absent (counted among the others).

    Restarts are etcd starting again: each start-up after the first in its logs, the first too when its
    log begins with etcd restarting on its own data dir, the pod's restart count and a previous log (an
    earlier container of the same pod: never a rollout, which makes a new pod)."""
    starts = (
        bundle.events_where((pl.col("member") == member) & (pl.col("kind") == "server_start"), ["ts"])
        .sort("ts", nulls_last=True)["ts"]
        .to_list()
    )
    orphan = _restarted_without_previous_log(bundle, member)
    times = [t for t in starts[1:] if t is not None]
    if orphan is not None and orphan not in times:
        times = sorted([orphan, *times])
    planned: list[tuple[datetime, Outage]] = []
    unplanned: list[datetime] = []
    for t in times:
        o = outage_of_restart(outages, member, t)
        if o is not None:
            planned.append((t, o))
        else:
            unplanned.append(t)
    has_previous = any(f.member == member and f.kind == "previous" and f.stats.lines > 0 for f in bundle.log_files)
    pod = bundle.pods.get(f"etcd-{member}")
    from_pod = pod.restart_count if pod and pod.restart_count is not None else 0
    count = max(len(unplanned), from_pod, 1 if has_previous else 0)
    return count, unplanned, planned, orphan


def _span(bundle: Bundle, member: str) -> tuple[datetime | None, datetime | None]:
    firsts = [f.stats.first_ts for f in bundle.log_files if f.member == member and f.stats.first_ts]
    lasts = [f.stats.last_ts for f in bundle.log_files if f.member == member and f.stats.last_ts]
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _counts(events: pl.DataFrame, kinds: list[str]) -> dict[str, int]:
    rows = events.filter(pl.col("kind").is_in(kinds)).group_by("member").len()
    return dict(rows.iter_rows())


SPAN_KINDS = ["wal_fsync_slow", "heartbeat_slow", "apply_slow"]


def _spans(events: pl.DataFrame) -> dict[str, dict[str, tuple[datetime, datetime]]]:
    """member -> kind -> (first, last) time of that kind's events, for the kinds whose onset a report gives."""
    rows = (
        events.filter(pl.col("kind").is_in(SPAN_KINDS) & pl.col("ts").is_not_null())
        .group_by("member", "kind")
        .agg(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
        .sort("member", "kind")
    )
    out: dict[str, dict[str, tuple[datetime, datetime]]] = {}
    for member, kind, first, last in rows.iter_rows():
        out.setdefault(str(member), {})[str(kind)] = (first, last)
    return out


PAUSE_MIN_MS = 1000  # a heartbeat this late (past ten heartbeat intervals) is a pause, not a slow send


def _pauses_with_disk_quiet(heartbeats: pl.DataFrame, fsyncs: pl.DataFrame) -> dict[str, tuple[int, float | None]]:
    """member -> (count, worst exceeded ms) of its heartbeats sent at least PAUSE_MIN_MS late with no slow
    fsync of its own within DISK_NEAR: the process was paused or starved, even if its disk was slow at
    another time. A leader on a throttled disk is late too, by a fraction of a second a time and near the
    fsyncs it waits on; a disk slow enough to delay heartbeats can keep each fsync under the 1 s etcd logs
    at, which is why short delays with no slow fsync nearby are still left to the disk."""
    hb = (
        heartbeats.filter(pl.col("ts").is_not_null() & (pl.col("exceeded_ms") >= PAUSE_MIN_MS))
        .select("member", "ts", "exceeded_ms")
        .sort("ts")
    )
    fs = fsyncs.filter(pl.col("ts").is_not_null()).select("member", pl.col("ts").alias("fsync_ts")).sort("fsync_ts")
    paused = (
        hb.join_asof(
            fs,
            left_on="ts",
            right_on="fsync_ts",
            by="member",
            strategy="nearest",
            tolerance=DISK_NEAR,
            check_sortedness=False,  # both sorted by time above; polars cannot check it within groups
        )
        .filter(pl.col("fsync_ts").is_null())
        .group_by("member")
        .agg(pl.len(), pl.col("exceeded_ms").max())
    )
    return {str(m): (int(n), worst) for m, n, worst in paused.iter_rows()}


def _max_by_member(events: pl.DataFrame, kinds: list[str], value: str) -> dict[str, float]:
    rows = events.filter(pl.col("kind").is_in(kinds)).group_by("member").agg(pl.col(value).max())
    return dict(rows.iter_rows())


def _fatal_errors(bundle: Bundle) -> dict[str, tuple[int, str | None]]:
    """Per member, the fatal/panic lines in all its logs and what the last one said ("message: error")."""
    rows = bundle.of("fatal_error", columns=["message", "error"])
    if rows.height == 0:
        return {}
    said = pl.concat_str("message", "error", separator=": ", ignore_nulls=True)
    per = rows.group_by("member").agg(pl.len(), said.last()).sort("member")
    return {str(m): (int(n), e) for m, n, e in per.iter_rows()}


def _planned_network(bundle: Bundle, window: Window, outages: list[Outage]) -> pl.DataFrame:
    """The window's network warnings that name a peer (member, peer name, kind, ts), with ``planned``: the
    peer was stopped by the platform then (a rollout or a reboot, from just before its stop until it was
    back and settled): what any member logs while a peer it talks to is away on purpose."""
    rules = platform_rules()
    rows = (
        bundle.of(*NETWORK_KINDS, columns=["kind", "peer_id"])
        .filter(in_window(window) & pl.col("peer_id").is_not_null())
        .select(
            pl.col("member").cast(pl.String),
            pl.col("peer_id")
            .replace_strict(bundle.id_names, default=pl.col("peer_id"), return_dtype=pl.String)
            .alias("peer"),
            pl.col("kind").cast(pl.String),
            "ts",
        )
    )
    planned = pl.lit(False)
    for o in outages:  # a handful: one per rollout step or reboot
        end = o.back + rules.warnings_after_back if o.back is not None else None
        inside = (pl.col("peer") == o.member) & (pl.col("ts") >= o.stopped - rules.warnings_before_stop)
        planned = planned | (inside & (pl.col("ts") <= end) if end is not None else inside)
    return rows.with_columns(planned=planned)


def _peer_warnings(network: pl.DataFrame) -> dict[str, dict[str, dict[str, int]]]:
    """member -> peer -> network warnings about that peer by kind, in the window, leaving out those while
    the platform had that peer stopped: whether a member's trouble is with every peer (its own network)
    or with one (that peer), as each line names its peer."""
    rows = network.filter(~pl.col("planned")).group_by("member", "peer", "kind").len().sort("member", "peer", "kind")
    out: dict[str, dict[str, dict[str, int]]] = {}
    for member, peer, kind, n in rows.iter_rows():
        by_kind = out.setdefault(str(member), {}).setdefault(peer, {})
        by_kind[str(kind)] = by_kind.get(str(kind), 0) + int(n)
    return out


def _peer_rtts(bundle: Bundle, per_peer: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """member -> peer name -> round-trip p99 (ms) from the metrics' per-peer histogram (``To`` label)."""
    return {
        member: {bundle.id_names.get(r["peer"], r["peer"]): r["p99_ms"] for r in rows if r["p99_ms"] is not None}
        for member, rows in per_peer.items()
    }


def _peers_text(warnings: dict[str, dict[str, int]]) -> str:
    """ "; all about master-0" or "; about master-0 (5), master-2 (1)": the peers a member's warnings name."""
    if not warnings:
        return ""
    if len(warnings) == 1:
        return f"; all about {next(iter(warnings))}"
    totals = sorted(((peer, sum(k.values())) for peer, k in warnings.items()), key=lambda pn: (-pn[1], pn[0]))
    return "; about " + ", ".join(f"{peer} ({n})" for peer, n in totals)


def _by_peer_text(rtts: dict[str, float]) -> str:
    """ ", by peer master-0 203 ms, master-2 0.784 ms" (worst first), or "" with fewer than two peers."""
    if len(rtts) < 2:
        return ""
    ranked = sorted(rtts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", by peer " + ", ".join(f"{peer} {fmt_value(ms, 'ms')}" for peer, ms in ranked)


def measure(bundle: Bundle, window: Window) -> ClusterView:
    events = bundle.events_where(in_window(window), ["member", "kind", "ts"])
    fsyncs = bundle.of("wal_fsync_slow").filter(in_window(window))
    ids = _member_ids(bundle)
    leader_id = _leader_id(bundle)
    fsync = per_member(fsyncs, ["wal_fsync_slow"], "took_ms")
    apply = per_member(
        bundle.of("apply_slow", columns=["kind", "took_ms"]).filter(in_window(window)), ["apply_slow"], "took_ms"
    )
    kinds_count = {
        k: _counts(events, [k])
        for k in (
            "heartbeat_slow",
            "clock_drift",
            "peer_unhealthy",
            "message_dropped",
            "stream_lost",
            "peer_inactive",
            "raft_election_start",
        )
    }
    readindex = _counts(events, ["readindex_slow", "readindex_timeout"])
    rollouts = build_rollouts(bundle)
    outages = build_outages(bundle, rollouts)
    network_rows = _planned_network(bundle, window, outages)
    # warnings about a peer the platform had stopped are its work, not the network's: counted apart
    planned_net = {
        (str(m), str(k)): int(n)
        for m, k, n in network_rows.filter(pl.col("planned")).group_by("member", "kind").len().iter_rows()
    }
    for kind, counts in kinds_count.items():
        for member in list(counts):
            counts[member] -= planned_net.get((str(member), kind), 0)
    network_planned = {m: sum(n for (mm, _), n in planned_net.items() if mm == m) for m, _ in planned_net}
    network = {m: n - network_planned.get(str(m), 0) for m, n in _counts(events, NETWORK_KINDS).items()}
    heartbeats = bundle.of("heartbeat_slow", columns=["kind", "exceeded_ms"]).filter(in_window(window))
    hb_max = _max_by_member(heartbeats, ["heartbeat_slow"], "exceeded_ms")
    hb_paused = _pauses_with_disk_quiet(heartbeats, fsyncs)
    mm = metric_measures.compute(bundle.metrics, window)
    applies_during_platform = _during_platform(
        bundle.of("apply_slow", columns=["ts"]).filter(in_window(window) & pl.col("ts").is_not_null()), outages
    )
    tunings = {name: _tuning(bundle, name) for name in bundle.member_names}
    timeouts = {name: float(t.get("election_timeout_ms") or DEFAULT_ELECTION_TIMEOUT_MS) for name, t in tunings.items()}
    over_timeout = _over_timeout(fsyncs, timeouts)
    drift_max = _max_by_member(bundle.of("clock_drift").filter(in_window(window)), ["clock_drift"], "drift_ms")

    elections = election_timeline(bundle.of(*LEADER_KINDS, "raft_became_candidate"), bundle.id_names)
    planned_elections = {
        e.term: o for e in elections if (o := outage_at_election(outages, e.previous_leader, e.ts)) is not None
    }
    frozen = frozen_fsyncs(events, fsyncs, [e for e in elections if e.term not in planned_elections])
    fatal = _fatal_errors(bundle)
    peer_warnings = _peer_warnings(network_rows)
    spans = _spans(events)
    peer_rtts = _peer_rtts(bundle, mm.per_peer)
    members: list[MemberView] = []
    for name in bundle.member_names:
        mid = ids.get(name)
        status = next((s for s in bundle.info.status if mid is not None and s.member_id == mid), None)
        endpoint = _endpoint_of(bundle, mid)
        health = _health_of(bundle, mid, endpoint)
        alarms = sorted({a.alarm for a in bundle.info.alarms if a.member_id == mid})
        restarts, restart_times, planned_restarts, orphan = _restart_times(bundle, name, outages)
        tuning, timeout_ms = tunings[name], timeouts[name]
        first, last = _span(bundle, name)
        has_logs = any(f.member == name for f in bundle.log_files)
        view = MemberView(
            name=name,
            id=mid,
            id_hex=format(mid, "x") if mid is not None else None,
            pod=f"etcd-{name}" if f"etcd-{name}" in bundle.pods or has_logs else None,
            endpoint=endpoint,
            version=status.version if status else None,
            is_leader=(mid == leader_id) if (leader_id is not None and mid is not None) else None,
            is_learner=bool(status.is_learner)
            if status
            else any(m.is_learner for m in bundle.info.members if m.id == mid),
            alarms=alarms,
            health=health,
            status=status,
            log_first=first,
            log_last=last,
            restart_times=restart_times,
            tuning=tuning,
            peer_warnings=peer_warnings.get(name, {}),
            peer_rtt_p99_ms=peer_rtts.get(name, {}),
            restarts_in_window=[t for t in restart_times if within(t, window)],
            planned_restarts=planned_restarts,
            restart_without_previous_log=orphan,
            spans=spans.get(name, {}),
        )
        f = fsync.get(name, {})
        a = apply.get(name, {})
        db_size = status.db_size if status else None
        db_in_use = status.db_in_use if status else None
        quota = status.db_quota if status and status.db_quota else _pod_quota(bundle, name)
        msig = mm.signals.get(name, {})
        if db_size is None:
            db_size = _int_or_none(msig.get("db_total_bytes_metric"))
            db_in_use = _int_or_none(msig.get("db_in_use_bytes_metric"))
        if quota is None:
            quota = _int_or_none(msig.get("db_quota_bytes_metric"))
        view.signals = {
            # true percentiles: metrics only, the logs never carry them (see METRIC_ONLY_SIGNALS)
            **{
                f"{h}_{q}_ms": msig.get(f"{h}_{q}_ms")
                for h in metric_measures.HISTOGRAMS
                for q in ("p50", "p90", "p99")
            },
            **{f"{h}_worst_minute_p99_ms": msig.get(f"{h}_worst_minute_p99_ms") for h in metric_measures.HISTOGRAMS},
            **{
                f"{h}_worst_minute": _minute_label(msig.get(f"{h}_worst_minute_end_ms"))
                for h in metric_measures.HISTOGRAMS
            },
            **{f"{h}_source": msig.get(f"{h}_source") for h in metric_measures.HISTOGRAMS},
            **{k: msig.get(k) for k in metric_measures.COUNTERS},
            "proposals_pending": msig.get("proposals_pending"),
            **{k: msig.get(k) for k in ("db_total_bytes_metric", "db_in_use_bytes_metric", "db_quota_bytes_metric")},
            "wal_fsync_over_1s_counted": msig.get("wal_fsync_over_1s_counted"),
            # logged slow events, in the window
            "wal_fsync_slow_count": int(f.get("count", 0)) if has_logs else None,
            "wal_fsync_frozen_count": frozen.get(name, 0) if has_logs else None,
            "wal_fsync_slow_disk_count": int(f.get("count", 0)) - frozen.get(name, 0) if has_logs else None,
            # logged fsyncs longer than the member's election timeout (not counting a frozen leader's):
            # each one alone can cost the cluster its leader; and the most logged in any few minutes
            "wal_fsync_over_election_timeout": max(over_timeout.get(name, 0) - frozen.get(name, 0), 0)
            if has_logs
            else None,
            "election_timeout_ms": timeout_ms,
            "wal_fsync_slow_most_in_window": _mostwithin(fsyncs, name, RECUR_SPAN) if has_logs else None,
            "wal_fsync_slow_p50_ms": _round(f.get("p50")),
            "wal_fsync_slow_p99_ms": _round(f.get("p99")),
            "wal_fsync_slow_max_ms": _round(f.get("max")),
            "slow_apply_count": int(a.get("count", 0)) if has_logs else None,
            "slow_apply_p50_ms": _round(a.get("p50")),
            "slow_apply_p99_ms": _round(a.get("p99")),
            "slow_apply_max_ms": _round(a.get("max")),
            "heartbeat_failures": kinds_count["heartbeat_slow"].get(name, 0) if has_logs else None,
            "heartbeat_max_exceeded_ms": _round(hb_max.get(name)),
            # of those, the pauses: a second late or more, the member's disk quiet around them
            "heartbeat_pauses": hb_paused.get(name, (0, None))[0] if has_logs else None,
            "heartbeat_pause_max_ms": _round(hb_paused.get(name, (0, None))[1]),
            "readindex_delays": readindex.get(name, 0) if has_logs else None,
            "clock_drift_events": kinds_count["clock_drift"].get(name, 0) if has_logs else None,
            "clock_drift_max_ms": _round(drift_max.get(name)),
            "network_events": network.get(name, 0) if has_logs else None,
            "network_events_planned": network_planned.get(name, 0) if has_logs else None,
            "network_planned_note": f"; besides {network_planned[name]} while the platform had a peer stopped"
            if network_planned.get(name)
            else "",
            # message text: since when, to the second (", 2026-11-26 11:46:06-11:46:18 UTC"; "" when none)
            **{f"{kind}_when": f", {fmt_span(*view.spans[kind])}" if kind in view.spans else "" for kind in SPAN_KINDS},
            # message text: most of the member's slow applies fell while the platform had members stopped
            "apply_slow_platform": applies_during_platform.get(name, ""),
            # message text: which peers the warnings name, most named first ("" when none names one)
            "network_events_peers": _peers_text(view.peer_warnings),
            "peer_rtt_by_peer": _by_peer_text(view.peer_rtt_p99_ms),
            "peer_unhealthy_count": kinds_count["peer_unhealthy"].get(name, 0),
            "message_dropped_count": kinds_count["message_dropped"].get(name, 0),
            "stream_lost_count": kinds_count["stream_lost"].get(name, 0),
            "elections_started": kinds_count["raft_election_start"].get(name, 0),
            "restarts": restarts if (has_logs or name in {p[len("etcd-") :] for p in bundle.pods}) else None,
            "restarts_in_window": len(view.restarts_in_window),
            "restarts_planned": len(planned_restarts),
            # message text: what else is known of its restarts ("" when nothing)
            "restarts_note": _restarts_note(planned_restarts, orphan, restart_times),
            # whole logs, not the window: the error a member stopped on explains a restart long before it;
            # lines, not stops (a zap Panic and the runtime's panic line after it are one stop)
            "fatal_errors": fatal.get(name, (0, None))[0] if has_logs else None,
            "fatal_error_last": fatal.get(name, (0, None))[1],
            # etcd_info
            "db_size_bytes": db_size,
            "db_in_use_bytes": db_in_use,
            "fragmentation_pct": _round(100.0 * (db_size - db_in_use) / db_size, 2)
            if db_size and db_in_use is not None
            else None,
            "db_quota_bytes": quota,
            "db_quota_pct": _round(100.0 * db_size / quota, 2) if db_size and quota else None,
            "raft_term": status.raft_term if status else None,
            "raft_index": status.raft_index if status else None,
            "raft_applied_index": status.raft_applied_index if status else None,
            "alarm_count": len(alarms) if bundle.info.files.get("alarm_list.json") == "ok" else None,
            "unhealthy": (0 if health.health else 1) if health and health.health is not None else None,
        }
        members.append(view)

    in_win = [e for e in elections if within(e.ts, window)]
    planned_in_win = sum(1 for e in in_win if e.term in planned_elections)
    statuses = bundle.info.status
    terms = [s.raft_term for s in statuses if s.raft_term is not None]
    leader_name = next((m.name for m in members if m.is_leader), None)
    cluster_signals: dict[str, float | int | None] = {
        "member_count": len(bundle.info.members) if bundle.info.members else len(members),
        "leader_changes": len(in_win) if bundle.log_files else None,
        # elections that followed the platform stopping the leader (a rollout, a reboot): planned work
        "leader_changes_planned": planned_in_win if bundle.log_files else None,
        "leader_changes_unplanned": len(in_win) - planned_in_win if bundle.log_files else None,
        "members_without_leader": sum(1 for s in statuses if not s.leader) if statuses else None,
        "raft_term_spread": (max(terms) - min(terms)) if terms else None,
        "active_alarms": len(bundle.info.alarms) if bundle.info.files.get("alarm_list.json") == "ok" else None,
        "bundle_damaged": int(bundle.damaged),
        "membership_problems": len(membership_problems(bundle)),
        "archive_members_refused": bundle.refused,
    }
    not_measured = sum(1 for m in members for s in METRIC_ONLY_SIGNALS if m.signals.get(s) is None)
    cluster_signals["kpis_not_measured"] = not_measured
    return ClusterView(
        members=members,
        elections=elections,
        elections_in_window=in_win,
        signals=cluster_signals,
        leader=leader_name,
        outside_window=_outside(bundle.events_where(pl.col("level").is_in(LOUD), ["ts", "level"]), window),
        metrics=mm,
        rollouts=rollouts,
        outages=outages,
        planned_elections=planned_elections,
        alarm_names=sorted({a.alarm for a in bundle.info.alarms}),
        alarm_members=sorted(
            {
                bundle.id_names.get(format(a.member_id, "x"), format(a.member_id, "x"))
                for a in bundle.info.alarms
                if a.member_id is not None
            }
        ),
    )


def within(ts: datetime | None, window: Window) -> bool:
    """Whether a time falls in the window (an undated one only in an unbounded window)."""
    if ts is None:
        return window.start is None and window.end is None
    if window.start is not None and ts < window.start:
        return False
    return not (window.end is not None and ts > window.end)


LOUD = ["warn", "error", "dpanic", "panic", "fatal"]  # warning-or-worse levels


def _outside(events: pl.DataFrame, window: Window) -> dict[str, int]:
    """Warning-or-worse events outside the window, so a narrow window never hides them."""
    loud = events.filter(pl.col("level").is_in(LOUD))
    outside = loud.filter(~in_window(window))
    return {
        "warning_or_worse": outside.height,
        "before": outside.filter(pl.col("ts") < window.start).height if window.start else 0,
        "after": outside.filter(pl.col("ts") > window.end).height if window.end else 0,
        "undated": outside.filter(pl.col("ts").is_null()).height,
    }


def _pod_quota(bundle: Bundle, member: str) -> int | None:
    pod = bundle.pods.get(f"etcd-{member}")
    value = pod.env.get("ETCD_QUOTA_BACKEND_BYTES") if pod else None
    if value and value.strip().isdigit():
        return int(value.strip())
    starts = bundle.of("server_start").filter((pl.col("member") == member) & pl.col("quota_bytes").is_not_null())
    if starts.height:
        return int(starts.sort("ts", nulls_last=True)["quota_bytes"].to_list()[-1])
    return None


DEFAULT_ELECTION_TIMEOUT_MS = 1000.0  # etcd's default, and OpenShift's on AWS, vSphere and metal (Azure: 2500)
TUNING_KEYS = {
    "heartbeat_interval_ms": "ETCD_HEARTBEAT_INTERVAL",
    "election_timeout_ms": "ETCD_ELECTION_TIMEOUT",
    "quota_backend_bytes": "ETCD_QUOTA_BACKEND_BYTES",
    "static_pod_version": "ETCD_STATIC_POD_VERSION",
}


def _tuning(bundle: Bundle, member: str) -> dict[str, str]:
    """Heartbeat, election timeout, quota and static-pod version as configured: the pod's env first, else
    the ETCD_* dump of the container's preamble (its newest), else etcd's start-up line."""
    pod = bundle.pods.get(f"etcd-{member}")
    env = pod.env if pod else {}
    dumped = (
        bundle.of("preamble_env", columns=["env_name", "env_value"])
        .filter((pl.col("member") == member) & pl.col("env_name").is_in(list(TUNING_KEYS.values())))
        .select("env_name", "env_value")
    )
    from_preamble = dict(dumped.iter_rows())  # in time order: the newest start's value last
    tuning = {key: env.get(var) or from_preamble.get(var) for key, var in TUNING_KEYS.items()}
    starts = bundle.of("server_start").filter(pl.col("member") == member).sort("ts", nulls_last=True)
    if starts.height:
        last = starts.row(-1, named=True)
        if tuning["heartbeat_interval_ms"] is None and last["heartbeat_ms"] is not None:
            tuning["heartbeat_interval_ms"] = f"{last['heartbeat_ms']:g}"
        if tuning["election_timeout_ms"] is None and last.get("election_timeout_ms") is not None:
            tuning["election_timeout_ms"] = f"{last['election_timeout_ms']:g}"
        if tuning["quota_backend_bytes"] is None and last["quota_bytes"] is not None:
            tuning["quota_backend_bytes"] = str(last["quota_bytes"])
    out = {k: v.strip() for k, v in tuning.items() if v is not None}
    if "election_timeout_ms" in out:
        try:
            float(out["election_timeout_ms"])
        except ValueError:
            del out["election_timeout_ms"]
    return out


RECUR_SPAN = timedelta(minutes=5)  # after the etcd mixin's etcdHighFsyncDurations: a 5-minute rate


def _over_timeout(fsyncs: pl.DataFrame, timeouts: dict[str, float]) -> dict[str, int]:
    """member -> logged slow fsyncs that took longer than its election timeout."""
    if fsyncs.height == 0:
        return {}
    limit = (
        pl.col("member")
        .cast(pl.String)
        .replace_strict(timeouts, default=DEFAULT_ELECTION_TIMEOUT_MS, return_dtype=pl.Float64)
    )
    rows = fsyncs.filter(pl.col("took_ms") > limit).group_by("member").len()
    return {str(m): int(n) for m, n in rows.iter_rows()}


def _mostwithin(fsyncs: pl.DataFrame, member: str, span: timedelta) -> int:
    """The most logged slow fsyncs of the member in any ``span`` (a rolling count over its events)."""
    mine = fsyncs.filter((pl.col("member") == member) & pl.col("ts").is_not_null()).select("ts").sort("ts")
    if mine.height == 0:
        return 0
    counts = mine.with_columns(n=pl.lit(1)).rolling("ts", period=span).agg(pl.col("n").sum())
    return int(counts["n"].max())


def _during_platform(events: pl.DataFrame, outages: list[Outage]) -> dict[str, str]:
    """member -> "; N of them while the platform had X stopped (the revision 3 rollout)" when most of the
    member's ``events`` (member, ts) fall in the platform's stops (of any member: a leader's reads wait on
    the peers it lost), for the members where they do. Members restarting one after another slow the
    survivors' requests: the rollout's cost, not a fault. One pass per stop over the events' times."""
    if not outages or events.height == 0:
        return {}
    rules = platform_rules()
    ts = pl.col("ts")

    def inside(o: Outage) -> pl.Expr:
        start = ts >= o.stopped - rules.warnings_before_stop
        return start & (ts <= o.back + rules.warnings_after_back) if o.back is not None else start

    per = events.group_by("member").agg(
        pl.len().alias("_n"),
        pl.any_horizontal([inside(o) for o in outages]).sum().alias("_in"),
        *[inside(o).any().alias(f"_o{i}") for i, o in enumerate(outages)],
    )
    out = {}
    for row in per.iter_rows(named=True):
        if row["_in"] * 2 <= row["_n"]:
            continue
        hit = [o for i, o in enumerate(outages) if row[f"_o{i}"]]
        members = ", ".join(sorted({o.member for o in hit}))
        what = "; ".join(sorted({o.summary.split(" (")[0] for o in hit}))
        out[str(row["member"])] = f"; {row['_in']} of them while the platform had {members} stopped ({what})"
    return out


def _restarts_note(planned: list[tuple[datetime, Outage]], orphan: datetime | None, unplanned: list[datetime]) -> str:
    """What a restarts finding adds: the predecessor's log absent, the platform's own restarts."""
    notes = []
    if orphan is not None and orphan in unplanned:
        notes.append(
            f"its log begins at {orphan:%Y-%m-%d %H:%M:%S} UTC with etcd restarting;"
            " the log before is not in the bundle"
        )
    if planned:
        notes.append(
            f"besides {len(planned)} restart(s) the platform made ({'; '.join(o.summary for _, o in planned)})"
        )
    return "; " + "; ".join(notes) if notes else ""


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and value == value else None


def _minute_label(end_ms: object) -> str | None:
    """The minute a per-minute figure covers: ``YYYY-MM-DD HH:MM:SS-HH:MM:SS UTC``."""
    if not isinstance(end_ms, int):
        return None
    end = datetime.fromtimestamp(end_ms / 1000, tz=UTC)
    start = datetime.fromtimestamp(end_ms / 1000 - 60, tz=UTC)
    return f"{start:%Y-%m-%d %H:%M:%S}-{end:%H:%M:%S} UTC"
