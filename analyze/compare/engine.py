"""Two analyses of one cluster, before and after: what regressed, what improved, what is the same.

Works on analysis dicts only (``analysis.json``), so a baseline analysed last month compares with a
bundle analysed now, and the result depends on nothing but the two analyses and ``rules.yaml``:

- members are matched by name, else by member ID; a member on one side only is reported (replaced);
- each KPI in ``compare:`` of rules.yaml is judged per member by its kind (``effect.py``): histogram
  quantiles against the bucket they lie in, log counts as Poisson rates per hour of log, sizes and
  percentages by minimum changes;
- findings are new, resolved or persisting by (rule id, member), each with both sides' evidence;
- the platform's planned work (rollouts, reboots) is left out: elections are the unplanned ones and
  restarts the platform made are not findings on either side.

A regression's severity is the candidate's status on the analysis rule behind the KPI (critical there:
exit 2); any other regression is a warning (exit 1); nothing regressed: exit 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from etcd_perf.analyze.compare import effect
from etcd_perf.analyze.compare.effect import IMPROVED, NOT_COMPARABLE, REGRESSED, UNCHANGED
from etcd_perf.analyze.histograms import histogram_quantile
from etcd_perf.analyze.metric_measures import QUANTILES, SOURCE_SINCE_START
from etcd_perf.analyze.model import TOOL_VERSION
from etcd_perf.analyze.rules import rules_section
from etcd_perf.analyze.units import fmt_cell

SCHEMA = "etcd-perf/compare/v1"
# two single /metrics scrapes of one member's run: the candidate's quantile is of what was observed between
SINCE_BASELINE = "observed since the baseline's scrape"
SINCE_CANDIDATE = "observed since the candidate's scrape"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
NOT_JUDGED_SUBSYSTEMS = ("data",)  # about the bundle, not the cluster: listed, never a regression


@dataclass(frozen=True)
class CompareKpi:
    id: str
    name: str
    kind: str
    path: str
    unit: str
    subsystem: str
    scope: str = "member"
    quantile: str = "p99"
    better: str = "lower"
    rule: str | None = None
    min_relative_pct: float = 0.0
    min_absolute: float = 0.0
    min_points: float = 0.0


@dataclass(frozen=True)
class Settings:
    kpis: tuple[CompareKpi, ...]
    poisson_sigmas: float = 3.0
    min_rate_ratio: float = 1.5
    # a member's regressions in these subsystems follow from its disk regressing: listed under it
    consequences: tuple[tuple[str, tuple[str, ...]], ...] = ()


@cache
def default_settings() -> Settings:
    data = rules_section("compare")
    known = set(CompareKpi.__dataclass_fields__)
    kpis = tuple(CompareKpi(**{k: v for k, v in e.items() if k in known}) for e in data["kpis"])
    return Settings(
        kpis=kpis,
        poisson_sigmas=float(data["poisson_sigmas"]),
        min_rate_ratio=float(data["min_rate_ratio"]),
        consequences=tuple((k, tuple(v)) for k, v in sorted((data.get("consequences") or {}).items())),
    )


# ------------------------------------------------------------------------------------------ helpers


def _get(node: object, path: str) -> object:
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _hours(start: str | None, end: str | None, window: dict) -> float:
    """Hours of log inside the analysis window."""
    s, e = _ts(start), _ts(end)
    if s is None or e is None:
        return 0.0
    ws, we = _ts(window.get("start")), _ts(window.get("end"))
    s = max(s, ws) if ws else s
    e = min(e, we) if we else e
    return max((e - s).total_seconds(), 0.0) / 3600.0


def _buckets(rows: list[dict] | None) -> list[tuple[float, float]]:
    out = []
    for r in rows or []:
        try:
            out.append((float(r["le"]), float(r["count"])))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out)


def _log_cover(analysis: dict, member: str | None) -> tuple[str | None, str | None]:
    """When the member's log covers: from its first line to the collection when its container was running
    then (a ``current`` log: etcd logs nothing while all is well, so its last line is not where it ends),
    else to its last line."""
    span = next((m for m in _get(analysis, "logs.members") or [] if m.get("member") == member), None)
    if span is None or not span.get("start"):
        return None, None
    running = any(f.get("member") == member and f.get("kind") == "current" for f in _get(analysis, "logs.files") or [])
    end = _get(analysis, "bundle.collected_at") if running else None
    return span["start"], max(end, span.get("end") or end) if end else span.get("end")


def _side_member_values(analysis: dict, member: dict) -> dict:
    """A member's dict with the values compare reads that live elsewhere in the analysis."""
    cap = next((c for c in _get(analysis, "capacity.members") or [] if c.get("member") == member.get("name")), {})
    start, end = _log_cover(analysis, member.get("name"))
    return {
        **member,
        "quota_used_pct": cap.get("quota_used_pct"),
        "_hours": _hours(start, end, analysis.get("window") or {}),
    }


def _cluster_values(analysis: dict) -> dict:
    cluster = dict(analysis.get("cluster") or {})
    changes, planned = _number(cluster.get("leader_changes")), _number(cluster.get("leader_changes_planned"))
    cluster["leader_changes_unplanned"] = None if changes is None else changes - (planned or 0.0)
    cluster["object_count_total"] = _get(analysis, "capacity.object_counts_total")
    covers = [c for c in (_log_cover(analysis, m.get("member")) for m in _get(analysis, "logs.members") or []) if c[0]]
    window = analysis.get("window") or {}
    if covers:
        cluster["_hours"] = _hours(min(c[0] for c in covers), max(c[1] for c in covers), window)
    else:
        cluster["_hours"] = 0.0
    return cluster


def _status(analysis: dict, rule: str | None, member: str | None) -> str | None:
    """The candidate's own judgement of the rule behind a KPI: pass, info, warning or critical."""
    if rule is None:
        return None
    for k in analysis.get("kpis") or []:
        if k.get("id") == rule and (k.get("member") == member or member is None):
            return k.get("status")
    worst = None
    for f in analysis.get("findings") or []:
        if f.get("id") == rule and (f.get("member") == member or member is None):
            sev = f.get("severity")
            if worst is None or SEVERITY_RANK.get(sev, -1) > SEVERITY_RANK.get(worst, -1):
                worst = sev
    return worst or "pass"


# ------------------------------------------------------------------------------------------ members


def match_members(base: dict, cand: dict) -> tuple[list[tuple[dict, dict, str]], list[dict], list[dict]]:
    """Pairs matched by name, then by member ID; and the members on one side only. Sorted by name so the
    order members are listed in does not matter."""
    b_members = sorted(base.get("members") or [], key=lambda m: (str(m.get("name")), str(m.get("id"))))
    c_members = sorted(cand.get("members") or [], key=lambda m: (str(m.get("name")), str(m.get("id"))))
    pairs: list[tuple[dict, dict, str]] = []
    used_c: set[int] = set()
    left_b = []
    for b in b_members:
        hit = next((i for i, c in enumerate(c_members) if i not in used_c and c.get("name") == b.get("name")), None)
        if hit is None or not b.get("name"):
            left_b.append(b)
            continue
        used_c.add(hit)
        pairs.append((b, c_members[hit], "name"))
    only_b = []
    for b in left_b:
        hit = next(
            (i for i, c in enumerate(c_members) if i not in used_c and b.get("id") and c.get("id") == b.get("id")),
            None,
        )
        if hit is None:
            only_b.append(b)
            continue
        used_c.add(hit)
        pairs.append((b, c_members[hit], "id"))
    only_c = [c for i, c in enumerate(c_members) if i not in used_c]
    pairs.sort(key=lambda p: (str(p[1].get("name")), str(p[1].get("id"))))
    return pairs, only_b, only_c


def _member_label(b: dict, c: dict) -> str:
    return str(c.get("name") or b.get("name") or c.get("id") or b.get("id"))


# ------------------------------------------------------------------------------------------ KPIs


def _change(b: float | None, c: float | None) -> dict:
    if b is None or c is None:
        return {"absolute": None, "relative_pct": None}
    return {"absolute": c - b, "relative_pct": (c - b) / b * 100.0 if b else None}


def _histogram(kpi: CompareKpi, b: dict, c: dict, settings: Settings) -> tuple[float | None, float | None, str, dict]:
    hb, hc = b.get(kpi.path) or {}, c.get(kpi.path) or {}
    field = f"{kpi.quantile}_ms" if kpi.kind == "histogram" else "worst_minute_p99_ms"
    vb, vc = _number(hb.get(field)), _number(hc.get(field))
    bb, bc = _buckets(hb.get("buckets")), _buckets(hc.get("buckets"))
    detail: dict = {"observations": [effect.total(bb) or None, effect.total(bc) or None]}
    if vb is None or vc is None:
        return vb, vc, NOT_COMPARABLE, {**detail, "reason": "not measured on " + _sides(vb is None, vc is None)}
    if hb.get("source") != hc.get("source"):
        why = f"measured differently ({hb.get('source')} against {hc.get('source')})"
        return vb, vc, NOT_COMPARABLE, {**detail, "reason": why}
    bounds_b = [le for le, _ in bb if math.isfinite(le)]
    bounds_c = [le for le, _ in bc if math.isfinite(le)]
    if not bounds_b or bounds_b != bounds_c:
        return vb, vc, NOT_COMPARABLE, {**detail, "reason": "the two sides' histograms have different buckets"}
    if kpi.kind == "histogram" and hb.get("source") == SOURCE_SINCE_START:
        # two single scrapes of one run: the later one's own observations are what it adds to the earlier
        # (the candidate's, or the baseline's when the sides are swapped: a swap mirrors the verdict)
        q = QUANTILES.get(kpi.quantile, 0.99)
        if (between := effect.since_baseline(bb, bc)) and (v := histogram_quantile(q, between)) is not None:
            bc, vc = between, v * 1000.0
            detail = {"observations": [effect.total(bb), effect.total(bc)], "candidate_basis": SINCE_BASELINE}
        elif (between := effect.since_baseline(bc, bb)) and (v := histogram_quantile(q, between)) is not None:
            bb, vb = between, v * 1000.0
            detail = {"observations": [effect.total(bb), effect.total(bc)], "baseline_basis": SINCE_CANDIDATE}
    if not effect.total(bb) or not effect.total(bc):
        return (
            vb,
            vc,
            NOT_COMPARABLE,
            {
                **detail,
                "reason": "no observation in the window on " + _sides(not effect.total(bb), not effect.total(bc)),
            },
        )
    bounds_ms = [x * 1000.0 for x in bounds_b]
    verdict = effect.histogram_verdict(vb, vc, bb, bc, settings.poisson_sigmas, settings.min_rate_ratio)
    lo, hi = effect.bucket_of(min(vb, vc), bounds_ms)
    if math.isfinite(hi):
        detail["above_bucket"] = [effect.above(bb, hi / 1000.0), effect.above(bc, hi / 1000.0)]
    # which test kept a shift beyond the bucket from being a change: the tail's Poisson noise
    shifted = effect.quantile_verdict(vb, vc, bounds_ms, kpi.better) != UNCHANGED
    detail["decided_by"] = "tail" if shifted and verdict == UNCHANGED else "bucket"
    distance = effect.wasserstein(bb, bc)
    detail.update(
        resolution_ms=effect.resolution(vb, vc, bounds_ms) if math.isfinite(hi) else None,
        bucket_ms=[lo, hi if math.isfinite(hi) else None],
        wasserstein_ms=None if distance is None else distance * 1000.0,
    )
    return vb, vc, verdict, detail


def _sides(b_missing: bool, c_missing: bool) -> str:
    return "either side" if b_missing and c_missing else ("the baseline" if b_missing else "the candidate")


def _rate(kpi: CompareKpi, b: dict, c: dict, settings: Settings) -> tuple[float | None, float | None, str, dict]:
    nb, nc = _number(_get(b, kpi.path)), _number(_get(c, kpi.path))
    hb, hc = float(b.get("_hours") or 0.0), float(c.get("_hours") or 0.0)
    detail: dict = {"counts": [nb, nc], "hours": [round(hb, 6), round(hc, 6)]}
    if nb is None or nc is None:
        return None, None, NOT_COMPARABLE, {**detail, "reason": "not counted on " + _sides(nb is None, nc is None)}
    if hb <= 0 or hc <= 0:
        return None, None, NOT_COMPARABLE, {**detail, "reason": "no log in the window on " + _sides(hb <= 0, hc <= 0)}
    verdict = effect.rate_verdict(nb, hb, nc, hc, settings.poisson_sigmas, settings.min_rate_ratio)
    return nb / hb, nc / hc, verdict, detail


def _plain(kpi: CompareKpi, b: dict, c: dict) -> tuple[float | None, float | None, str, dict]:
    vb, vc = _number(_get(b, kpi.path)), _number(_get(c, kpi.path))
    if vb is None or vc is None:
        return vb, vc, NOT_COMPARABLE, {"reason": "not known on " + _sides(vb is None, vc is None)}
    if kpi.kind == "points":
        return vb, vc, effect.points_verdict(vb, vc, kpi.min_points), {}
    return vb, vc, effect.size_verdict(vb, vc, kpi.min_relative_pct, kpi.min_absolute), {}


def judge(kpi: CompareKpi, b: dict, c: dict, settings: Settings) -> tuple[float | None, float | None, str, dict]:
    if kpi.kind in ("histogram", "minute"):
        return _histogram(kpi, b, c, settings)
    if kpi.kind == "rate":
        return _rate(kpi, b, c, settings)
    return _plain(kpi, b, c)


def _kpi_rows(base: dict, cand: dict, pairs: list, settings: Settings) -> list[dict]:
    rows = []
    cluster_b, cluster_c = _cluster_values(base), _cluster_values(cand)
    for kpi in settings.kpis:
        if kpi.scope == "cluster":
            targets = [(None, cluster_b, cluster_c)]
        else:
            targets = [
                (_member_label(b, c), _side_member_values(base, b), _side_member_values(cand, c)) for b, c, _ in pairs
            ]
        for member, b, c in targets:
            vb, vc, verdict, detail = judge(kpi, b, c, settings)
            member_name_c = c.get("name") if member is not None else None
            member_name_b = b.get("name") if member is not None else None
            rows.append(
                {
                    "member": member,
                    "kpi": kpi.id,
                    "name": kpi.name,
                    "subsystem": kpi.subsystem,
                    "unit": kpi.unit,
                    "baseline": vb,
                    "candidate": vc,
                    "change": _change(vb, vc),
                    "verdict": verdict,
                    "detail": detail,
                    "baseline_status": _status(base, kpi.rule, member_name_b),
                    "candidate_status": _status(cand, kpi.rule, member_name_c),
                    "rule": kpi.rule,
                }
            )
    return rows


# ------------------------------------------------------------------------------------------ requests


def _requests(base: dict, cand: dict, settings: Settings) -> list[dict]:
    """Slow-request resources and operations that appeared, disappeared, grew or shrank, per hour of log."""
    hb = sum(_side_member_values(base, m)["_hours"] for m in base.get("members") or [])
    hc = sum(_side_member_values(cand, m)["_hours"] for m in cand.get("members") or [])
    rows = []
    for dimension, key in (("resource", "by_resource"), ("operation", "by_operation")):
        counts_b = {str(r.get(dimension)): float(r.get("count") or 0) for r in _get(base, f"requests.{key}") or []}
        counts_c = {str(r.get(dimension)): float(r.get("count") or 0) for r in _get(cand, f"requests.{key}") or []}
        for name in sorted(set(counts_b) | set(counts_c)):
            nb, nc = counts_b.get(name, 0.0), counts_c.get(name, 0.0)
            verdict = effect.rate_verdict(nb, hb, nc, hc, settings.poisson_sigmas, settings.min_rate_ratio)
            change = {REGRESSED: "grew", IMPROVED: "shrank"}.get(verdict, verdict)
            if verdict == REGRESSED and nb == 0:
                change = "appeared"
            elif verdict == IMPROVED and nc == 0:
                change = "disappeared"
            rows.append(
                {
                    "dimension": dimension,
                    "name": name,
                    "baseline": {"count": nb, "per_hour": nb / hb if hb > 0 else None},
                    "candidate": {"count": nc, "per_hour": nc / hc if hc > 0 else None},
                    "verdict": verdict,
                    "change": change,
                }
            )
    return rows


# ------------------------------------------------------------------------------------------ findings


def _finding_key(f: dict) -> tuple[str, str]:
    return (str(f.get("id")), str(f.get("member") or ""))


def _strip(f: dict) -> dict:
    keep = ("id", "member", "severity", "subsystem", "message", "value", "value_text", "threshold", "unit", "evidence")
    return {k: f.get(k) for k in keep}


def _findings(base: dict, cand: dict, pairs: list) -> dict:
    # a member renamed (matched by ID) keeps its findings matched: key by the candidate's name
    rename = {str(b.get("name")): str(c.get("name")) for b, c, how in pairs if how == "id"}

    def keyed(analysis: dict, renames: dict[str, str]) -> dict[tuple[str, str], dict]:
        out: dict[tuple[str, str], dict] = {}
        for f in analysis.get("findings") or []:
            rid, member = _finding_key(f)
            key = (rid, renames.get(member, member))
            if key not in out or SEVERITY_RANK.get(f.get("severity"), -1) > SEVERITY_RANK.get(
                out[key].get("severity"), -1
            ):
                out[key] = f
        return out

    fb, fc = keyed(base, rename), keyed(cand, {})
    new = [
        {"id": k[0], "member": k[1] or None, "severity": fc[k].get("severity"), "candidate": _strip(fc[k])}
        for k in sorted(set(fc) - set(fb))
    ]
    resolved = [
        {"id": k[0], "member": k[1] or None, "severity": fb[k].get("severity"), "baseline": _strip(fb[k])}
        for k in sorted(set(fb) - set(fc))
    ]
    persisting = []
    for k in sorted(set(fb) & set(fc)):
        rb, rc = SEVERITY_RANK.get(fb[k].get("severity"), 0), SEVERITY_RANK.get(fc[k].get("severity"), 0)
        persisting.append(
            {
                "id": k[0],
                "member": k[1] or None,
                "baseline_severity": fb[k].get("severity"),
                "candidate_severity": fc[k].get("severity"),
                "change": "escalated" if rc > rb else ("eased" if rc < rb else "same"),
                "baseline": _strip(fb[k]),
                "candidate": _strip(fc[k]),
            }
        )
    return {"new": new, "resolved": resolved, "persisting": persisting}


# ------------------------------------------------------------------------------------------ verdict


def _identity(analysis: dict) -> dict:
    return dict(_get(analysis, "cluster.identity") or {})


def _cluster_warnings(base: dict, cand: dict) -> tuple[bool | None, list[str]]:
    ib, ic = _identity(base), _identity(cand)
    warnings = []
    same: bool | None = None
    ob, oc = ib.get("openshift_cluster_id"), ic.get("openshift_cluster_id")
    eb, ec = ib.get("etcd_cluster_id"), ic.get("etcd_cluster_id")
    if ob and oc:
        same = ob == oc
        if ob != oc:
            warnings.append(
                f"the two bundles are of different OpenShift clusters (cluster ID {ob} against {oc}): "
                "this compares two clusters, not one cluster before and after"
            )
    if eb and ec and eb != ec:
        if same:
            warnings.append(
                f"etcd's cluster ID changed ({eb} to {ec}) in the same OpenShift cluster: etcd was restored "
                "from a backup or recreated between the two bundles"
            )
        else:
            same = False
            if not (ob and oc):
                warnings.append(
                    f"the two bundles are of different etcd clusters (cluster ID {eb} against {ec}): "
                    "this compares two clusters, not one cluster before and after"
                )
    elif eb and ec and same is None:
        same = True
    return same, warnings


def _side(analysis: dict, label: str) -> dict:
    return {
        "path": label,
        "cluster": _identity(analysis),
        "collected_at": _get(analysis, "bundle.collected_at"),
        "window": analysis.get("window"),
        "status": analysis.get("status"),
        "exit_code": analysis.get("exit_code"),
        "headline": _get(analysis, "diagnosis.headline") or _get(analysis, "summary.headline"),
        "version": sorted({str(m.get("version")) for m in analysis.get("members") or [] if m.get("version")}),
    }


def _severity(status: str | None) -> str:
    return "critical" if status == "critical" else "warning"


def kpi_text(row: dict) -> str:
    where = f"{row['member']} " if row["member"] else ""
    return f"{where}{row['name']} {fmt_cell(row['baseline'], row['unit'])} → {fmt_cell(row['candidate'], row['unit'])}"


def _changes(kpis: list[dict], findings: dict, which: str) -> list[dict]:
    """Regressions (``which`` = regressed) or improvements, each with its member, subsystem and severity.

    Slow-request resources and operations are listed beside them, never judged: the requests etcd logs as
    slow are its slow applies, which the KPIs judge per member; which keys they touched says what the
    workload is, not how etcd serves it."""
    out = []
    judged_kpis = {(r["rule"], r["member"]) for r in kpis if r["rule"] and r["verdict"] != NOT_COMPARABLE}
    for r in kpis:
        if r["verdict"] == which:
            sev = _severity(r["candidate_status"] if which == REGRESSED else r["baseline_status"])
            out.append(
                {
                    "member": r["member"],
                    "subsystem": r["subsystem"],
                    "kpi": r["kpi"],
                    "severity": sev,
                    "text": kpi_text(r),
                    "short": kpi_text({**r, "member": None}),
                }
            )
    # findings only where no KPI judged the same rule on the member (its verdict already says it)
    listed = findings["new"] if which == REGRESSED else findings["resolved"]
    side = "candidate" if which == REGRESSED else "baseline"
    flag = "regression" if which == REGRESSED else "improvement"
    for f in listed:
        detail = f[side]
        f[flag] = False
        if f["severity"] == "info" or detail.get("subsystem") in NOT_JUDGED_SUBSYSTEMS:
            continue
        if (f["id"], f["member"]) in judged_kpis:
            continue
        f[flag] = True
        out.append(
            {
                "member": f["member"],
                "subsystem": detail.get("subsystem"),
                "finding": f["id"],
                "severity": f["severity"],
                "text": ("new: " if which == REGRESSED else "resolved: ") + str(detail.get("message")),
                "short": f"{f['id']} {'new' if which == REGRESSED else 'resolved'} ({f['severity']})",
            }
        )
    moved = "escalated" if which == REGRESSED else "eased"
    for f in findings["persisting"]:
        f[flag] = False
        if f["change"] != moved or (f["id"], f["member"]) in judged_kpis:
            continue
        if f["candidate"].get("subsystem") in NOT_JUDGED_SUBSYSTEMS:
            continue
        f[flag] = True
        sev = f["candidate_severity"] if which == REGRESSED else f["baseline_severity"]
        out.append(
            {
                "member": f["member"],
                "subsystem": f["candidate"].get("subsystem"),
                "finding": f["id"],
                "severity": sev,
                "text": f"{moved} from {f['baseline_severity']} to {f['candidate_severity']}: "
                + str(f["candidate"].get("message")),
                "short": f"{f['id']} {moved} to {sev}",
            }
        )
    return out


def _groups(changes: list[dict], consequences: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> list[dict]:
    """Changes grouped by member and subsystem, worst first: what the headline names. A member's changes in
    a subsystem that follows from another one that changed on it (slower applies and requests on a member
    whose disk regressed) are listed under that cause, not as a regression of their own."""
    groups: dict[tuple[str, str], dict] = {}
    for ch in changes:
        key = (ch["member"] or "", ch["subsystem"] or "")
        g = groups.setdefault(
            key, {"member": ch["member"], "subsystem": ch["subsystem"], "severity": "warning", "items": []}
        )
        g["items"].append(ch["text"])
        g.setdefault("short", []).append(ch["short"])
        if ch["severity"] == "critical":
            g["severity"] = "critical"
    for cause, followers in consequences:
        for (member, subsystem), g in list(groups.items()):
            head = groups.get((member, cause))
            if member and subsystem in followers and head is not None and (member, subsystem) in groups:
                del groups[(member, subsystem)]
                head.setdefault("consequences", []).append(
                    {"subsystem": subsystem, "items": g["items"], "short": g["short"]}
                )
                if g["severity"] == "critical":
                    head["severity"] = "critical"
    return sorted(groups.values(), key=lambda g: (g["severity"] != "critical", g["member"] or "", g["subsystem"] or ""))


def _tail(groups: list[dict]) -> str:
    return f"; and {len(groups) - 4} more." if len(groups) > 4 else "."


def _headline(verdict: str, regressions: list[dict], improvements: list[dict]) -> str:
    """``regressions`` and ``improvements`` are grouped (``_groups``)."""

    def more(items: list[str]) -> str:
        return f", {len(items) - 2} more" if len(items) > 2 else ""

    def follows(g: dict) -> str:
        subs = [c["subsystem"] for c in g.get("consequences") or []]
        return f"; with it on {g['member']}: {', '.join(subs)}" if subs else ""

    def names(groups: list[dict]) -> str:
        return "; ".join(
            f"{g['member'] + ' ' if g['member'] else 'cluster '}{g['subsystem']} ({', '.join(g['short'][:2])}"
            f"{more(g['short'])}{follows(g)})"
            for g in groups[:4]
        ) + ("; …" if len(groups) > 4 else "")

    if verdict == REGRESSED:
        return "Regressed: " + names(regressions).removesuffix("; …") + _tail(regressions)
    if verdict == IMPROVED:
        return "Improved, nothing regressed: " + names(improvements).removesuffix("; …") + _tail(improvements)
    return "No change beyond what the measurements resolve."


def compare(base: dict, cand: dict, base_label: str, cand_label: str, settings: Settings | None = None) -> dict:
    """The comparison of two analyses (``etcd-perf/compare/v1``)."""
    settings = settings or default_settings()
    pairs, only_b, only_c = match_members(base, cand)
    same, warnings = _cluster_warnings(base, cand)
    kpis = _kpi_rows(base, cand, pairs, settings)
    findings = _findings(base, cand, pairs)
    requests = _requests(base, cand, settings)
    regressions = _changes(kpis, findings, REGRESSED)
    improvements = _changes(kpis, findings, IMPROVED)
    for m in only_b:
        warnings.append(f"member {m.get('name')} ({m.get('id')}) is in the baseline only: removed or replaced")
    for m in only_c:
        warnings.append(f"member {m.get('name')} ({m.get('id')}) is in the candidate only: added or a replacement")
    if regressions:
        verdict = REGRESSED
        exit_code = 2 if any(r["severity"] == "critical" for r in regressions) else 1
    else:
        verdict = IMPROVED if improvements else UNCHANGED
        exit_code = 0
    grouped_r = _groups(regressions, settings.consequences)
    grouped_i = _groups(improvements, settings.consequences)
    counts = {v: sum(1 for r in kpis if r["verdict"] == v) for v in (REGRESSED, IMPROVED, UNCHANGED, NOT_COMPARABLE)}
    return {
        "schema": SCHEMA,
        "tool": {"name": "etcd-perf", "version": TOOL_VERSION},
        "verdict": verdict,
        "exit_code": exit_code,
        "headline": _headline(verdict, grouped_r, grouped_i),
        "same_cluster": same,
        "warnings": warnings,
        "baseline": _side(base, base_label),
        "candidate": _side(cand, cand_label),
        "members": {
            "matched": [
                {
                    "member": _member_label(b, c),
                    "baseline": b.get("name"),
                    "candidate": c.get("name"),
                    "id": c.get("id"),
                    "matched_by": how,
                }
                for b, c, how in pairs
            ],
            "baseline_only": [{"name": m.get("name"), "id": m.get("id")} for m in only_b],
            "candidate_only": [{"name": m.get("name"), "id": m.get("id")} for m in only_c],
        },
        "kpi_counts": counts,
        "kpis": kpis,
        "requests": requests,
        "findings": findings,
        "regressions": grouped_r,
        "improvements": grouped_i,
        "settings": {
            "poisson_sigmas": settings.poisson_sigmas,
            "min_rate_ratio": settings.min_rate_ratio,
        },
    }


def kpi_values(analysis: dict, settings: Settings | None = None) -> list[dict]:
    """Each compare KPI's value in one analysis, per member (or for the cluster): the series history draws
    over many bundles, read the way compare reads each side."""
    settings = settings or default_settings()
    cluster = _cluster_values(analysis)
    members = sorted(analysis.get("members") or [], key=lambda m: (str(m.get("name")), str(m.get("id"))))
    rows = []
    for kpi in settings.kpis:
        targets = (
            [(None, cluster)]
            if kpi.scope == "cluster"
            else [(m.get("name"), _side_member_values(analysis, m)) for m in members]
        )
        for member, values in targets:
            if kpi.kind in ("histogram", "minute"):
                field = f"{kpi.quantile}_ms" if kpi.kind == "histogram" else "worst_minute_p99_ms"
                value = _number((values.get(kpi.path) or {}).get(field))
            elif kpi.kind == "rate":
                count, hours = _number(_get(values, kpi.path)), float(values.get("_hours") or 0.0)
                value = count / hours if count is not None and hours > 0 else None
            else:
                value = _number(_get(values, kpi.path))
            rows.append(
                {
                    "member": member,
                    "kpi": kpi.id,
                    "name": kpi.name,
                    "unit": kpi.unit,
                    "subsystem": kpi.subsystem,
                    "value": value,
                }
            )
    return rows
