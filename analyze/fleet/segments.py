"""The bundles on either side of a change point, pooled, judged by the compare engine.

A change point in a series of bundles is stated with compare's verdict between the bundles either side
of it. One bundle against the next says little when each covers a few minutes (three slow fsyncs against
none is Poisson noise), so each side's bundles are pooled first, the way the measurement adds up:

- logged counts: the counts and the hours of log summed over the side's bundles;
- histograms measured over each bundle's window (a Prometheus dump): the windows' bucket counts summed,
  and the side's quantile computed from the pooled buckets (``histogram_quantile``);
- histograms from single scrapes (cumulative since the member started): the side's own observations are
  the difference of the cumulative buckets across it (none are lost between bundles); where a counter went
  down (the member restarted) the two bundles next to the change point are compared instead;
- sizes and percentages: the last bundle before the change against the first after it.

The pooled sides then go through ``engine.judge``, so a step is named only with what the measurements on
both sides resolve.
"""

from __future__ import annotations

import math

from etcd_perf.analyze.compare import effect
from etcd_perf.analyze.compare.engine import (
    CompareKpi,
    Settings,
    _buckets,
    _cluster_values,
    _get,
    _side_member_values,
    judge,
)
from etcd_perf.analyze.histograms import histogram_quantile
from etcd_perf.analyze.metric_measures import QUANTILES, SOURCE_SINCE_START

SINCE_START = SOURCE_SINCE_START


def _values(analysis: dict, kpi: CompareKpi, member: str | None) -> dict | None:
    if kpi.scope == "cluster":
        return _cluster_values(analysis)
    m = next((m for m in analysis.get("members") or [] if m.get("name") == member), None)
    return _side_member_values(analysis, m) if m is not None else None


def _with_buckets(template: dict, kpi: CompareKpi, buckets: list[tuple[float, float]]) -> dict:
    q = QUANTILES.get(kpi.quantile, 0.99)
    value = histogram_quantile(q, buckets)
    node = {
        "buckets": [{"le": "+Inf" if math.isinf(le) else f"{le:g}", "count": c} for le, c in buckets],
        "source": "metrics",
        f"{kpi.quantile}_ms": None if value is None else value * 1000.0,
        "worst_minute_p99_ms": None if value is None else value * 1000.0,
    }
    return {**template, kpi.path: node}


def _summed(rows: list[list[tuple[float, float]]], sign: list[int]) -> list[tuple[float, float]] | None:
    bounds = [le for le, _ in rows[0]]
    if any([le for le, _ in r] != bounds for r in rows):
        return None
    out = [(le, sum(s * r[i][1] for s, r in zip(sign, rows, strict=True))) for i, le in enumerate(bounds)]
    return out if all(c >= -1e-6 for _, c in out) else None


def _pool_histograms(
    kpi: CompareKpi, left: list[dict], right: list[dict], before: dict | None = None
) -> tuple[dict, dict] | None:
    hists = [[(v.get(kpi.path) or {}) for v in side] for side in (left, right)]
    sources = {h.get("source") for side in hists for h in side}
    if kpi.kind == "minute":  # the worst minute of a side is its worst bundle's worst minute
        return None
    if sources == {"metrics"}:
        pooled = [_summed([_buckets(h.get("buckets")) for h in side], [1] * len(side)) for side in hists]
    elif sources == {SINCE_START}:
        b = [[_buckets(h.get("buckets")) for h in side] for side in hists]
        last_left, last_right = b[0][-1], b[1][-1]
        # the left side's observations: since the bundle before it when that one is a scrape of the same
        # member's run (each bundle's point is what it observed since the one before), else since its first
        prior = (before or {}).get(kpi.path) or {}
        start = _buckets(prior.get("buckets")) if prior.get("source") == SINCE_START else None
        since_before = effect.since_baseline(start, last_left) if start else None
        pooled = [
            since_before or (_summed([last_left, b[0][0]], [1, -1]) if len(b[0]) > 1 else last_left),
            _summed([last_right, last_left], [1, -1]),
        ]
    else:
        return None
    if pooled[0] is None or pooled[1] is None or not effect.total(pooled[0]) or not effect.total(pooled[1]):
        return None
    return _with_buckets(left[-1], kpi, pooled[0]), _with_buckets(right[0], kpi, pooled[1])


SINCE_BEFORE = "since the bundle before"


def interval_values(kpi: CompareKpi, member: str | None, analyses: list[dict]) -> list[tuple[float | None, str]]:
    """Per bundle (in time order) of a histogram KPI read from single scrapes: its quantile over the
    observations since the bundle before (the difference of the two cumulative scrapes), not since the
    member started. A fault shows in the bundle after it began, not smeared over every later one; a step
    between such bundles is located where it happened. Each value with its basis: ``SINCE_BEFORE``, or
    ``SINCE_START`` for the first bundle and after a restart (``effect.since_baseline`` tells one run from
    two); ``(None, "")`` where the bundle's value is not from a single scrape (the caller keeps what was
    measured)."""
    q = QUANTILES.get(kpi.quantile, 0.99)
    out: list[tuple[float | None, str]] = []
    before: list[tuple[float, float]] | None = None
    for analysis in analyses:
        values = _values(analysis, kpi, member)
        node = (values or {}).get(kpi.path) or {}
        if node.get("source") != SINCE_START:
            out.append((None, ""))
            before = None
            continue
        now = _buckets(node.get("buckets"))
        between = effect.since_baseline(before, now) if before else None
        unchanged = before is not None and between is None and now == before
        before = now
        if unchanged:  # nothing observed between the two bundles
            out.append((None, SINCE_BEFORE))
        elif between is None:  # the first bundle, or the member restarted: its scrape is all there is
            value = node.get(f"{kpi.quantile}_ms")
            out.append((value, SINCE_START))
        else:
            value = histogram_quantile(q, between)
            out.append((None if value is None else value * 1000.0, SINCE_BEFORE))
    return out


def _pool_rate(kpi: CompareKpi, side: list[dict]) -> dict:
    total = sum(float(_get(v, kpi.path) or 0.0) for v in side)
    hours = sum(float(v.get("_hours") or 0.0) for v in side)
    node: dict = {"_hours": hours}
    cursor = node
    parts = kpi.path.split(".")
    for p in parts[:-1]:
        cursor = cursor.setdefault(p, {})
    cursor[parts[-1]] = total
    return node


def segment_verdict(
    kpi: CompareKpi,
    member: str | None,
    left: list[dict],
    right: list[dict],
    settings: Settings,
    before: dict | None = None,
) -> tuple[str, dict]:
    """compare's verdict between two runs of bundles (their analyses, in time order); ``before``: the
    analysis of the bundle before the left run, if any (the start of a single scrape's first period)."""
    lv = [v for v in (_values(a, kpi, member) for a in left) if v is not None]
    rv = [v for v in (_values(a, kpi, member) for a in right) if v is not None]
    if not lv or not rv:
        return effect.NOT_COMPARABLE, {"reason": "the member is not in the bundles on a side"}
    if kpi.kind == "rate":
        sides = (_pool_rate(kpi, lv), _pool_rate(kpi, rv))
        how = "pooled"
    elif kpi.kind in ("histogram", "minute"):
        prior = _values(before, kpi, member) if before is not None else None
        pooled = _pool_histograms(kpi, lv, rv, prior)
        sides, how = (pooled, "pooled") if pooled is not None else ((lv[-1], rv[0]), "adjacent")
    else:
        sides, how = (lv[-1], rv[0]), "adjacent"
    _, _, verdict, detail = judge(kpi, sides[0], sides[1], settings)
    return verdict, {**detail, "pooled": how, "bundles": [len(lv), len(rv)]}
