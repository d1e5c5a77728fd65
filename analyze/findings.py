"""Rules applied to measures: KPI rows and findings, each finding with the lines that prove it.

A finding that cannot point at a file, a line and a timestamp is an opinion; every finding here
carries its evidence (log lines worst first, or the etcd_info entry it was read from).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from etcd_perf.analyze.measures import ClusterView, MemberView, in_window
from etcd_perf.analyze.metric_measures import COUNTERS, HISTOGRAMS
from etcd_perf.analyze.rules import SEVERITY_RANK, Rule
from etcd_perf.analyze.units import fmt_value, unit_of
from etcd_perf.analyze.window import Window
from etcd_perf.gather.bundle import Bundle

EVIDENCE_LINES = 5
EVIDENCE_LINES_CLUSTER = 10
EXCERPT_CHARS = 400

# Where a signal's value comes from, for the KPI table's `source` column.
SIGNAL_SOURCES = {
    "db_size_bytes": "etcd_info",
    "db_in_use_bytes": "etcd_info",
    "fragmentation_pct": "etcd_info",
    "db_quota_pct": "etcd_info",
    "active_alarms": "etcd_info",
    "unhealthy": "etcd_info",
    "members_without_leader": "etcd_info",
    "raft_term_spread": "etcd_info",
}


@dataclass
class Finding:
    id: str
    severity: str
    subsystem: str
    member: str | None
    value: float | int | None
    threshold: float | None
    unit: str
    message: str
    recommendation: str
    evidence: list[dict] = field(default_factory=list)


def source_of(signal: str, signals: dict) -> str:
    """Where a signal's value came from: metrics (ranged or single scrape), etcd_info, or logs."""
    for key in HISTOGRAMS:
        if signal.startswith(f"{key}_") and not signal.startswith("wal_fsync_slow"):
            return str(signals.get(f"{key}_source") or "metrics")
    if signal in COUNTERS or signal == "proposals_pending":
        return "metrics"
    return SIGNAL_SOURCES.get(signal, "logs")


class _Fmt(dict):
    """Message template values: signals formatted by their unit; unknown names left visible."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _template_values(
    signals: dict, view: MemberView | None, cluster: ClusterView, rule: Rule, value: object, threshold: object
) -> _Fmt:
    values = _Fmt({k: fmt_value(v, unit_of(k)) for k, v in signals.items()})
    values.update(
        member=view.name if view else "cluster",
        value=fmt_value(value, rule.unit),
        threshold=fmt_value(threshold, rule.unit),
        warning=fmt_value(rule.warning, rule.unit),
        critical=fmt_value(rule.critical, rule.unit),
    )
    if view is None:
        values.update(
            alarms=", ".join(cluster.alarm_names) or "none",
            alarm_members=", ".join(cluster.alarm_members) or "unknown",
        )
    else:
        values.update(
            alarms=", ".join(view.alarms) or "none",
            health_error=(view.health.error or "no error text").strip() if view.health else "unknown",
        )
    return values


def _event_evidence(bundle: Bundle, window: Window, rule: Rule, member: str | None) -> list[dict]:
    if not rule.evidence:
        return []
    # the few columns evidence needs, before filtering: a filter copies every column it keeps
    keep = {"kind", "member", "ts", "file", "line"} | ({rule.evidence_sort} if rule.evidence_sort else set())
    rows = bundle.of(*rule.evidence, columns=sorted(keep)).select(sorted(keep))
    if rule.evidence_scope == "window":
        rows = rows.filter(in_window(window))
    if member is not None:
        rows = rows.filter(pl.col("member") == member)
    if rule.evidence_sort:
        rows = rows.sort(
            rule.evidence_sort, "ts", "file", "line", descending=[True, False, False, False], nulls_last=True
        )
    else:
        rows = rows.sort("ts", "file", "line", nulls_last=True)
    limit = EVIDENCE_LINES if member is not None else EVIDENCE_LINES_CLUSTER
    return [
        {"file": r["file"], "line": int(r["line"]), "ts": r["ts"], "excerpt": None}
        for r in rows.head(limit).select("file", "line", "ts").iter_rows(named=True)
    ]


def _info_evidence(bundle: Bundle, rule: Rule, view: MemberView | None) -> list[dict]:
    """The etcd_info entry a finding was read from (single-line JSON files: line 1)."""
    base = bundle.etcd_info_dir
    if base is None or SIGNAL_SOURCES.get(rule.signal) != "etcd_info":
        return []
    if rule.signal == "active_alarms":
        raw = bundle.info.raw.get("alarm_list.json")
        return [{"file": f"{base}/alarm_list.json", "line": 1, "ts": None, "excerpt": json.dumps(raw)[:EXCERPT_CHARS]}]
    if view is None:
        return []
    if rule.signal == "unhealthy" and view.health is not None:
        h = view.health
        excerpt = json.dumps({"endpoint": h.endpoint, "health": h.health, "error": h.error})
        return [{"file": f"{base}/endpoint_health.json", "line": 1, "ts": None, "excerpt": excerpt}]
    if view.status is not None:
        st = view.status
        excerpt = json.dumps(
            {
                "Endpoint": st.endpoint,
                "dbSize": st.db_size,
                "dbSizeInUse": st.db_in_use,
                "leader": format(st.leader, "x") if st.leader else None,
                "raftTerm": st.raft_term,
                "errors": st.errors,
            }
        )
        return [{"file": f"{base}/endpoint_status.json", "line": 1, "ts": None, "excerpt": excerpt[:EXCERPT_CHARS]}]
    return []


def _metrics_evidence(
    bundle: Bundle, window: Window, rule: Rule, member: MemberView | None, signals: dict
) -> list[dict]:
    """The metrics file and the PromQL expression a metrics-derived value is the answer of."""
    source = source_of(rule.signal, signals)
    key = next((k for k in HISTOGRAMS if rule.signal.startswith(f"{k}_")), None)
    if member is None or key is None or not source.startswith("metrics"):
        return []
    files = sorted({f for f in bundle.metrics.filter(pl.col("member") == member.name)["source"].unique().to_list()})
    if not files:
        return []
    metric = HISTOGRAMS[key]
    selector = f'{metric}{{pod="etcd-{member.name}"}}'
    q = {"p50": 0.5, "p90": 0.9}.get(rule.signal.split("_")[-2], 0.99)
    if "worst_minute" in rule.signal:
        expr = f"max over minutes of histogram_quantile(0.99, sum by (pod, le) (increase({selector}[1m])))"
        ts = None
    elif source == "metrics" and window.minutes:
        expr = f"histogram_quantile({q}, sum by (pod, le) (increase({selector}[{window.minutes:g}m])))"
        ts = window.end
    else:
        expr = f"histogram_quantile({q}, sum by (pod, le) ({selector}))  # cumulative since member start"
        ts = None
    value = fmt_value(signals.get(rule.signal), rule.unit)
    return [{"file": files[0], "line": None, "ts": ts, "excerpt": f"{expr} = {value}"}]


def _subjects(rule: Rule, view: ClusterView) -> Iterable[tuple[MemberView | None, dict]]:
    if rule.scope == "cluster":
        yield None, view.signals
    else:
        for m in view.members:
            yield m, m.signals


def evaluate(
    bundle: Bundle, window: Window, view: ClusterView, rules: Iterable[Rule]
) -> tuple[list[dict], list[Finding]]:
    kpis: list[dict] = []
    findings: list[Finding] = []
    for rule in rules:
        if not rule.enabled:
            continue
        for member, signals in _subjects(rule, view):
            value = signals.get(rule.signal)
            judged = rule.applies(signals)
            severity, threshold = rule.judge(value) if judged else (None, None)
            # a firing finding is critical where an escalate condition holds (as etcd and OpenShift alert)
            raised = rule.escalation(signals) if severity not in (None, "critical") else None
            if raised is not None:
                severity, threshold = "critical", raised["value"]
            name = member.name if member else None
            if rule.kpi:
                status = "not_measured" if value is None else ("pass" if severity in (None, "info") else severity)
                note = rule.guard.get("note") if (rule.guard and not judged and value is not None) else None
                kpis.append(
                    {
                        "id": rule.id,
                        "name": rule.name,
                        "member": name,
                        "value": value,
                        "unit": rule.unit,
                        "threshold": rule.reference_threshold,
                        "status": status,
                        "source": source_of(rule.signal, signals) if value is not None else None,
                        "note": note,
                    }
                )
            if severity is None:
                continue
            values = _template_values(signals, member, view, rule, value, threshold)
            message = rule.message.format_map(values)
            if raised is not None:  # say which condition made it critical
                message += "; critical: " + raised["why"].format_map(values)
            evidence = (
                _metrics_evidence(bundle, window, rule, member, signals)
                + _info_evidence(bundle, rule, member)
                + _event_evidence(bundle, window, rule, name)
            )
            findings.append(
                Finding(
                    id=rule.id,
                    severity=severity,
                    subsystem=rule.subsystem,
                    member=name,
                    value=value,
                    threshold=threshold,
                    unit=rule.unit,
                    message=message,
                    recommendation=rule.recommendation,
                    evidence=evidence,
                )
            )
    order = {r.id: i for i, r in enumerate(rules)}
    findings.sort(key=lambda f: (SEVERITY_RANK[f.severity], order[f.id], f.member or ""))
    return kpis, findings
