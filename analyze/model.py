"""The analysis as one JSON-ready dict: what every renderer reads and ``analysis.json`` holds.

Keys listed in the README's schema are stable (``etcd-perf/analysis/v1``); new keys may be added.
Everything is ordered and formatted deterministically: the same bundle and options give the same
bytes, whatever the machine or the day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from etcd_perf.analyze import timeline
from etcd_perf.analyze.capacity import capacity
from etcd_perf.analyze.consistency import consistency
from etcd_perf.analyze.diagnosis import diagnose, election_causes
from etcd_perf.analyze.findings import EXCERPT_CHARS, Finding, evaluate
from etcd_perf.analyze.measures import ClusterView, MemberView, in_window, measure, within
from etcd_perf.analyze.requests import COLUMNS as REQUEST_COLUMNS
from etcd_perf.analyze.requests import SLOW_REQUEST_KINDS, attribution
from etcd_perf.analyze.rollouts import notable_events
from etcd_perf.analyze.rules import Rule
from etcd_perf.analyze.traces import COLUMNS as TRACE_COLUMNS
from etcd_perf.analyze.traces import decompose
from etcd_perf.analyze.units import fmt_value
from etcd_perf.analyze.window import Window
from etcd_perf.gather.bundle import Bundle

SCHEMA = "etcd-perf/analysis/v1"
TOOL_VERSION = "0.1.0"
STATUS_EXIT = {"HEALTHY": 0, "WARNING": 1, "CRITICAL": 2}
PRIORITY = {"critical": "immediate", "warning": "monitoring", "info": "optimization"}


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _evidence(items: list[dict]) -> list[dict]:
    return [{"file": e["file"], "line": e["line"], "ts": iso(e["ts"]), "excerpt": e["excerpt"]} for e in items]


def _quoted(node: object) -> list[dict]:
    """Every evidence entry in the analysis that still waits for its line's text."""
    if isinstance(node, dict):
        if node.get("excerpt", 0) is None and isinstance(node.get("line"), int) and isinstance(node.get("file"), str):
            return [node]
        return [e for v in node.values() for e in _quoted(v)]
    if isinstance(node, list):
        return [e for v in node for e in _quoted(v)]
    return []


FUTURE_SLACK = timedelta(minutes=5)


def _future_events(bundle: Bundle) -> int:
    """Events dated after the collection (beyond clock skew): a wrong clock or a doctored log."""
    if bundle.collected_at is None or bundle.collected_at_source == "newest log line" or not bundle.event_count:
        return 0
    return bundle.events_where(pl.col("ts") > bundle.collected_at + FUTURE_SLACK, ["ts"]).height


def fill_excerpts(analysis: dict, bundle: Bundle, quote_also: pl.DataFrame | None = None) -> None:
    """Quote the log lines the analysis cites. The events frame keeps file and line only (a gigabyte
    of logs would not fit twice in memory); the lines are read back here, once per quoted file, with
    ``quote_also`` (the lines the reports will quote next) in the same read."""
    entries = _quoted(analysis)
    wanted = pl.DataFrame(
        {"file": [e["file"] for e in entries], "line": [e["line"] for e in entries]},
        schema={"file": pl.String, "line": pl.UInt64},
    )
    if quote_also is not None and quote_also.height:
        also = quote_also.select(pl.col("file").cast(pl.String), pl.col("line").cast(pl.UInt64))
        bundle.excerpts(pl.concat([wanted, also]).unique())  # one read of each log; the bundle keeps the lines
    if not entries:
        return
    found = bundle.excerpts(wanted.unique())
    text = {(f, ln): x for f, ln, x in found.select("file", "line", "excerpt").iter_rows()}
    for e in entries:
        e["excerpt"] = (text.get((e["file"], e["line"])) or "")[:EXCERPT_CHARS]


NOT_MEASURED = "not measured: the bundle has no metrics for it"


def _minute_series(rows: list[dict] | None) -> list[dict]:
    return [
        {"minute_end": iso(datetime.fromtimestamp(r["minute_end_ms"] / 1000, tz=UTC)), "p99_ms": r["p99_ms"]}
        for r in rows or []
    ]


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes its ``le`` label (``0.008``, ``+Inf``): JSON has no infinity."""
    return "+Inf" if bound == float("inf") else f"{bound:g}"


def _buckets(rows: list[tuple[float, float]] | None) -> list[dict]:
    return [{"le": _le(le), "count": count} for le, count in rows or []]


def _latency(s: dict, key: str, minutes: list[dict] | None, buckets: list | None = None) -> dict:
    """True percentiles from metrics, or explicitly not measured; with the window's cumulative bucket
    counts, so that a comparison can judge a shift against the bucket it lies in."""
    source = s.get(f"{key}_source")
    return {
        "p50_ms": s.get(f"{key}_p50_ms"),
        "p90_ms": s.get(f"{key}_p90_ms"),
        "p99_ms": s.get(f"{key}_p99_ms"),
        "worst_minute_p99_ms": s.get(f"{key}_worst_minute_p99_ms"),
        "worst_minute": s.get(f"{key}_worst_minute"),
        "source": source,
        "note": None if source else NOT_MEASURED,
        "minutes": _minute_series(minutes),
        "buckets": _buckets(buckets),
    }


def _first_last(m: MemberView, kind: str) -> dict:
    """When the member first and last logged ``kind`` in the window (null when it did not)."""
    first, last = m.spans.get(kind, (None, None))
    return {"first": iso(first), "last": iso(last)}


def _wal_fsync(m: MemberView, minutes: list[dict] | None, buckets: list | None) -> dict:
    """Metrics give the true distribution; the logs give the fsyncs over 1 s, kept as evidence."""
    s = m.signals
    logged = {
        "count": s["wal_fsync_slow_count"],
        "p50_ms": s["wal_fsync_slow_p50_ms"],
        "p99_ms": s["wal_fsync_slow_p99_ms"],
        "max_ms": s["wal_fsync_slow_max_ms"],
        **_first_last(m, "wal_fsync_slow"),
        "note": "fsyncs over 1 s only: etcd logs no faster fsync",
    }
    out = _latency(s, "wal_fsync", minutes, buckets)
    out.update(
        slow_count=s["wal_fsync_slow_count"],
        # logged fsyncs a paused leader woke up in (spanning an election, nothing else logged meanwhile):
        # a stall, so the disk KPI leaves them out
        frozen_count=s["wal_fsync_frozen_count"],
        max_ms=s["wal_fsync_slow_max_ms"],
        logged=logged,
        over_1s_counted=s.get("wal_fsync_over_1s_counted"),  # from the histogram: above the 1.024 s bucket
    )
    if out["source"] is None and s["wal_fsync_slow_count"] is not None:
        # no metrics: the summary is of the logged slow fsyncs, and says so
        out.update(
            p50_ms=logged["p50_ms"],
            p99_ms=logged["p99_ms"],
            source="logs",
            note="no metrics: p50/p99 of the logged fsyncs over 1 s, not of all fsyncs",
        )
    return out


def _member(m: MemberView, minutes: dict, per_peer: list[dict], buckets: dict) -> dict:
    s = m.signals
    health = None
    if m.health is not None:
        health = {"healthy": m.health.health, "took_ms": m.health.took_ms, "error": m.health.error}
    return {
        "name": m.name,
        "id": m.id_hex,
        "id_decimal": str(m.id) if m.id is not None else None,
        "pod": m.pod,
        "endpoint": m.endpoint,
        "is_leader": m.is_leader,
        "is_learner": m.is_learner,
        "version": m.version,
        "db_size_bytes": s["db_size_bytes"],
        "db_in_use_bytes": s["db_in_use_bytes"],
        "db_quota_bytes": s["db_quota_bytes"],
        "fragmentation_pct": s["fragmentation_pct"],
        "raft_term": s["raft_term"],
        "raft_index": s["raft_index"],
        "raft_applied_index": s["raft_applied_index"],
        "restarts": s["restarts"],
        "restart_times": [iso(t) for t in m.restart_times],
        # restarts the platform made (a rollout's new pod, a node reboot): not counted in restarts
        "restarts_planned": [{"ts": iso(t), "cause": o.cause, "by": o.summary} for t, o in m.planned_restarts],
        "restart_without_previous_log": iso(m.restart_without_previous_log),
        "fatal_errors": {"count": s["fatal_errors"], "last_error": s["fatal_error_last"]},
        "alarms": m.alarms,
        "health": health,
        "log_span": {"start": iso(m.log_first), "end": iso(m.log_last)},
        "tuning": m.tuning,
        "wal_fsync": _wal_fsync(m, minutes.get("wal_fsync"), buckets.get("wal_fsync")),
        "slow_apply": {
            "count": s["slow_apply_count"],
            "p50_ms": s["slow_apply_p50_ms"],
            "p99_ms": s["slow_apply_p99_ms"],
            "max_ms": s["slow_apply_max_ms"],
            **_first_last(m, "apply_slow"),
            "source": "logs" if s["slow_apply_count"] is not None else None,
            "note": "requests over their expected duration (default 100 ms) only",
        },
        "backend_commit": _latency(s, "backend_commit", minutes.get("backend_commit"), buckets.get("backend_commit")),
        "peer_rtt": {**_latency(s, "peer_rtt", minutes.get("peer_rtt"), buckets.get("peer_rtt")), "per_peer": per_peer},
        "grpc_unary": _latency(s, "grpc_unary", minutes.get("grpc_unary"), buckets.get("grpc_unary")),
        "proposals_failed": s["proposals_failed"],
        "proposals_pending": s["proposals_pending"],
        "leader_changes_seen": s["leader_changes_seen"],
        "heartbeat_send_failures_counted": s["heartbeat_send_failures"],
        "slow_applies_counted": s["slow_applies_counted"],
        "peer_sent_failures": s["peer_sent_failures"],
        "db_metrics": {
            "total_bytes": s["db_total_bytes_metric"],
            "in_use_bytes": s["db_in_use_bytes_metric"],
            "quota_bytes": s["db_quota_bytes_metric"],
        },
        "heartbeat_failures": s["heartbeat_failures"],
        "readindex_delays": s["readindex_delays"],
        "network_events": s["network_events"],
        # warnings about a peer while the platform had it stopped (rollout, reboot): left out of the above
        "network_events_planned": s["network_events_planned"],
        # the member's network warnings in the window, by the peer each names (name, else hex ID), by kind
        "network_events_by_peer": [
            {"peer": peer, "count": sum(kinds.values()), "by_kind": kinds}
            for peer, kinds in sorted(m.peer_warnings.items())
        ],
        "clock_drift_events": s["clock_drift_events"],
        "elections_started": s["elections_started"],
    }


def _finding(f: Finding) -> dict:
    return {
        "id": f.id,
        "severity": f.severity,
        "priority": PRIORITY[f.severity],
        "subsystem": f.subsystem,
        "member": f.member,
        "value": f.value,
        "value_text": fmt_value(f.value, f.unit),
        "threshold": f.threshold,
        "unit": f.unit,
        "message": f.message,
        "recommendation": f.recommendation,
        "evidence": _evidence(f.evidence),
    }


def _cluster(bundle: Bundle, view: ClusterView, causes: dict[int, dict]) -> dict:
    alarms = [
        {
            "member": bundle.id_names.get(format(a.member_id, "x"), format(a.member_id, "x")) if a.member_id else None,
            "member_id": format(a.member_id, "x") if a.member_id is not None else None,
            "alarm": a.alarm,
        }
        for a in bundle.info.alarms
    ]
    ident = bundle.identity
    return {
        # which cluster the bundle is of: compare warns when two bundles' IDs differ
        "identity": {
            "openshift_cluster_id": ident.openshift_cluster_id,
            "openshift_version": ident.openshift_version,
            "etcd_cluster_id": format(ident.etcd_cluster_id, "x") if ident.etcd_cluster_id is not None else None,
            "name": (bundle.manifest or {}).get("cluster")
            if isinstance((bundle.manifest or {}).get("cluster"), str)
            else None,
        },
        "member_count": view.signals["member_count"],
        "leader": view.leader,
        "leader_changes": view.signals["leader_changes"],
        "leader_changes_planned": view.signals["leader_changes_planned"],
        "elections": [
            {
                "term": e.term,
                "leader": e.leader,
                "leader_id": e.leader_id,
                "ts": iso(e.ts),
                "previous_leader": e.previous_leader,
                "candidates": e.candidates,
                "observed_by": e.observed_by,
                "in_window": e in view.elections_in_window,
                "evidence": _evidence([e.evidence]),
                "cause": _cause(causes.get(e.term)),
            }
            for e in view.elections
        ],
        "alarms": alarms,
        "raft_term_spread": view.signals["raft_term_spread"],
        "object_counts": [
            {"resource": c.resource, "count": c.count, "size": c.size} for c in bundle.info.object_counts[:20]
        ],
    }


def _cause(c: dict | None) -> dict | None:
    if c is None:
        return None
    return {**{k: iso(v) if isinstance(v, datetime) else v for k, v in c.items()}, "evidence": _evidence(c["evidence"])}


def _deep(bundle: Bundle, window: Window, view: ClusterView) -> tuple[dict, dict[int, dict], dict]:
    requests = attribution(bundle.scan(*SLOW_REQUEST_KINDS, columns=REQUEST_COLUMNS).filter(in_window(window)))
    for r in requests["slowest"]:
        r["ts"] = iso(r["ts"])
    per_minute = timeline.minutes(
        bundle.events_where(in_window(window), ["member", "ts", "kind"]),
        window,
        [(o.member, o.stopped, o.back) for o in view.outages],
    )
    deep = {
        "requests": requests,
        "traces": decompose(bundle.scan("trace", columns=TRACE_COLUMNS).filter(in_window(window))),
        "timeline": {
            "categories": list(timeline.CATEGORIES),
            "minutes": [{**r, "minute": iso(r["minute"])} for r in per_minute.iter_rows(named=True)],
            "correlations": [{**c, "minute": iso(c["minute"])} for c in timeline.correlations(per_minute)],
        },
        "capacity": capacity(bundle, view),
        "consistency": consistency(bundle, view),
    }
    return deep, election_causes(bundle, view), requests


def _logs(bundle: Bundle, view: ClusterView) -> dict:
    firsts = [f.stats.first_ts for f in bundle.log_files if f.stats.first_ts]
    lasts = [f.stats.last_ts for f in bundle.log_files if f.stats.last_ts]
    return {
        "span": {"start": iso(min(firsts)) if firsts else None, "end": iso(max(lasts)) if lasts else None},
        "members": [{"member": m.name, "start": iso(m.log_first), "end": iso(m.log_last)} for m in view.members],
        "files": [
            {
                "file": f.file,
                "member": f.member,
                "kind": f.kind,
                "bytes": f.bytes,
                "lines": f.stats.lines,
                "unparsed_lines": f.stats.unparsed,
                "formats": dict(sorted((f.stats.by_format or {}).items())),
                "joined_partial_lines": f.stats.joined_partials,
                "start": iso(f.stats.first_ts),
                "end": iso(f.stats.last_ts),
                "problems": f.problems,
            }
            for f in bundle.log_files
        ],
        "events": bundle.event_count,
        "outside_window": view.outside_window,
    }


def _headline(status: str, findings: list[Finding]) -> str:
    if not findings or status == "HEALTHY":
        return "No warning or critical finding in the analysis window."
    top = findings[0]
    first = top.message.split(" ", 1)[0]
    # a sentence that starts with a word is capitalised; one that starts with a name (a member, a host)
    # keeps the name as the bundle spells it
    if first.isalpha() and first.islower():
        return top.message[0].upper() + top.message[1:] + "."
    return top.message + "."


def _platform_summary(view: ClusterView, window: Window) -> str | None:
    """One sentence on the platform's own work in the window: what was rolled out or rebooted, and how many
    elections and restarts that explains (so nobody chases them as etcd trouble)."""
    stops = [o for o in view.outages if within(o.stopped, window) or (o.back is not None and within(o.back, window))]
    if not stops:
        return None
    said = []
    for rev in sorted({o.revision for o in stops if o.cause == "rollout"}):
        mine = [o for o in stops if o.revision == rev]
        first, last = min(o.stopped for o in mine), max(o.stopped for o in mine)
        said.append(
            f"the etcd operator rolled out revision {rev} on {len(mine)} member(s) "
            f"(old pods stopped {first:%Y-%m-%d %H:%M:%S}-{last:%H:%M:%S} UTC)"
        )
    reboots = [o for o in stops if o.cause == "reboot"]
    if reboots:
        said.append(f"{len(reboots)} node reboot(s) stopped members ({', '.join(o.member for o in reboots)})")
    elections = view.signals.get("leader_changes_planned") or 0
    restarts = sum(1 for m in view.members for t, _ in m.planned_restarts if within(t, window))
    return (
        f"Planned work in the window: {'; '.join(said)}. {elections} leader election(s) and {restarts} "
        "member restart(s) were that work, not etcd trouble."
    )


def build_analysis(
    bundle: Bundle, window: Window, rules: tuple[Rule, ...], quote_also: pl.DataFrame | None = None
) -> dict:
    """The analysis of ``bundle`` over ``window``. ``quote_also``: more lines (file, line) to read from the
    bundle along with those the findings cite, so that each log is scanned once per run."""
    view = measure(bundle, window)
    kpis, findings = evaluate(bundle, window, view, rules)
    deep, causes, requests = _deep(bundle, window, view)
    diagnosis = diagnose(view, requests, causes, rules)
    severities = [f.severity for f in findings]
    status = "CRITICAL" if "critical" in severities else ("WARNING" if "warning" in severities else "HEALTHY")
    recs: dict[str, list[dict]] = {"immediate": [], "monitoring": [], "optimization": []}
    seen: set[tuple[str, str]] = set()
    for f in findings:
        key = (PRIORITY[f.severity], f.id)
        if key in seen:
            next(r for r in recs[key[0]] if r["id"] == f.id)["members"].append(f.member)
            continue
        seen.add(key)
        recs[key[0]].append({"id": f.id, "recommendation": f.recommendation, "members": [f.member]})
    for items in recs.values():
        for r in items:
            r["members"] = sorted(m for m in r["members"] if m) or None
    problems = sorted(
        set(
            bundle.problems
            + bundle.info.problems
            + [f"{f.file}: {p}" for f in bundle.log_files for p in f.problems]
            + [f"{f.file}: {p}" for f in bundle.metrics_files for p in f.problems]
        )
    )
    result = {
        "schema": SCHEMA,
        "tool": {"name": "etcd-perf", "version": TOOL_VERSION},
        "status": status,
        "exit_code": STATUS_EXIT[status],
        "summary": {
            "headline": diagnosis["headline"] if diagnosis["hypotheses"] else _headline(status, findings),
            "worst_finding": _headline(status, findings),
            "platform": _platform_summary(view, window),
            "critical": severities.count("critical"),
            "warnings": severities.count("warning"),
            "info": severities.count("info"),
            "kpis_not_measured": sum(1 for k in kpis if k["status"] == "not_measured"),
        },
        "bundle": {
            "path": bundle.source,
            "format": bundle.format,
            "collected_at": iso(bundle.collected_at),
            "collected_at_source": bundle.collected_at_source,
            "damaged": bundle.damaged,
            "etcd_info_files": dict(sorted(bundle.info.files.items())),
            "pods": bundle.pod_dirs,
        },
        "window": {
            "start": iso(window.start),
            "end": iso(window.end),
            "minutes": window.minutes,
            "label": window.label,
        },
        "logs": _logs(bundle, view),
        "members": [
            _member(
                m,
                view.metrics.minutes.get(m.name, {}),
                # the metric's "To" label is the peer's hex ID: its name beside it
                [{**r, "peer_name": bundle.id_names.get(r["peer"])} for r in view.metrics.per_peer.get(m.name, [])],
                view.metrics.buckets.get(m.name, {}),
            )
            for m in view.members
        ],
        "metrics": {
            "available": view.metrics.available,
            "files": [
                {
                    "file": f.file,
                    "kind": f.kind,
                    "samples": f.samples,
                    "series": f.series,
                    "unparsed_lines": f.unparsed,
                    "problems": f.problems,
                }
                for f in bundle.metrics_files
            ],
            "semantics": "histogram_quantile(q, sum by (pod, le) (increase(<metric>_bucket[window]))), Prometheus 2.x",
        },
        "cluster": _cluster(bundle, view, causes),
        "rollouts": [r.to_json(iso) for r in view.rollouts],
        "platform_events": [{**e, "ts": iso(e["ts"])} for e in notable_events(bundle)],
        "outages": [
            {
                "member": o.member,
                "cause": o.cause,
                "stopped": iso(o.stopped),
                "back": iso(o.back),
                "summary": o.summary,
                "revision": o.revision,
                "installer": o.installer,
            }
            for o in view.outages
        ],
        "diagnosis": diagnosis,
        **deep,
        "kpis": kpis,
        "findings": [_finding(f) for f in findings],
        "recommendations": recs,
        "data_quality": {
            "problems": problems,
            "unparsed_lines": sum(f.stats.unparsed for f in bundle.log_files),
            "invalid_json_lines": sum(f.stats.invalid_json for f in bundle.log_files),
            "lines": sum(f.stats.lines for f in bundle.log_files),
            "binary_lines": sum(f.stats.binary_lines for f in bundle.log_files),
            "long_lines": sum(f.stats.long_lines for f in bundle.log_files),
            "time_backwards": sum(f.stats.time_backwards for f in bundle.log_files),
            "future_events": _future_events(bundle),
            "damaged": bundle.damaged,
            "archive_members_refused": bundle.refused,
        },
    }
    fill_excerpts(result, bundle, quote_also)
    return result
