"""A cluster's history, series by series: what each point of a KPI is, and which bundles judge a step."""

import itertools
from datetime import datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.compare.engine import default_settings
from etcd_perf.analyze.fleet import history as hist
from etcd_perf.analyze.fleet.segments import SINCE_BEFORE, SINCE_START, histogram_quantile, interval_values

WAL = next(k for k in default_settings().kpis if k.id == "wal_fsync_p99")
BOUNDS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192]


def _scrape(cumulative: list[float]) -> dict:
    """A bundle's analysis with one member whose WAL fsync histogram is a single scrape."""
    les = [*(f"{b:g}" for b in BOUNDS), "+Inf"]
    buckets = [(b, c) for b, c in zip([*BOUNDS, float("inf")], cumulative, strict=True)]
    value = histogram_quantile(0.99, buckets)
    node = {
        "source": SINCE_START,
        "p99_ms": None if value is None else value * 1000.0,
        "buckets": [{"le": le, "count": c} for le, c in zip(les, cumulative, strict=True)],
    }
    return {"members": [{"name": "m0", "wal_fsync": node}]}


def _cumulative(per_bucket: list[int]) -> list[float]:
    out, total = [], 0.0
    for c in per_bucket:
        total += c
        out.append(total)
    return out


counts = st.lists(st.integers(min_value=0, max_value=50), min_size=len(BOUNDS) + 1, max_size=len(BOUNDS) + 1)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(counts, st.booleans()), min_size=1, max_size=8))
def test_a_single_scrape_series_is_read_bundle_to_bundle(periods):
    """Each period's observations, the member restarted before it or not: a bundle's point is the p99 of
    what was observed since the bundle before (the difference of the two scrapes), the first bundle's and a
    restarted member's their scrape's own. A restart shows as a count that went down or a difference that
    is no histogram (``effect.since_baseline``): one whose counts all grew alike reads as the difference,
    as Prometheus' ``increase`` reads it."""
    scrapes, expected, running, before = [], [], [0] * (len(BOUNDS) + 1), None
    for seen, restarted in periods:
        running = list(seen) if restarted else [a + b for a, b in zip(running, seen, strict=True)]
        now = _cumulative(running)
        scrape = _scrape(now)
        scrapes.append(scrape)
        between = None if before is None else [a - b for a, b in zip(now, before, strict=True)]
        before = now
        if between is None or min(between) < 0 or any(y < x for x, y in itertools.pairwise(between)):
            expected.append((scrape["members"][0]["wal_fsync"]["p99_ms"], SINCE_START))
        elif not between[-1]:
            expected.append((None, SINCE_BEFORE))
        else:
            value = histogram_quantile(0.99, list(zip([*BOUNDS, float("inf")], between, strict=True)))
            expected.append((value * 1000.0, SINCE_BEFORE))
    got = interval_values(WAL, "m0", scrapes)
    assert [b for _, b in got] == [b for _, b in expected]
    for (g, _), (e, _) in zip(got, expected, strict=True):
        assert (g is None and e is None) or abs(g - e) <= 1e-9 * max(1.0, abs(e))


def test_a_point_not_from_a_single_scrape_keeps_its_value():
    ranged = {"members": [{"name": "m0", "wal_fsync": {"source": "metrics", "p99_ms": 3.0, "buckets": []}}]}
    assert interval_values(WAL, "m0", [ranged, {"members": []}, ranged]) == [(None, "")] * 3


def test_each_step_is_judged_between_the_change_points_either_side_of_it(monkeypatch):
    """A series with two steps: each is judged between its own segments, never against the bundles of the
    other step (a steady stretch judged against a faulty one would name a regression the steady bundles do
    not have)."""
    judged = []

    def verdict(kpi, member, left, right, analyses, before=None):
        judged.append(([p["value"] for p in left], [p["value"] for p in right]))
        return {"verdict": "regressed", "judged": {}}

    monkeypatch.setattr(hist, "_verdict", verdict)
    values = [1.0] * 6 + [5.0] * 6 + [40.0] * 6
    t0 = datetime(2026, 1, 1)
    ids = [f"b{i:02d}" for i in range(len(values))]
    bundles = pl.DataFrame({"bundle_id": ids, "collected_at": [t0 + timedelta(hours=i) for i in range(len(ids))]})
    measures = bundles.with_columns(
        member=pl.lit("m0"), kpi=pl.lit("slow_fsyncs"), value=pl.Series(values), name=pl.lit("x"),
        unit=pl.lit("per hour"), subsystem=pl.lit("disk"),
    )  # fmt: skip
    (series,) = hist._series(measures, bundles, {}, 3)
    assert [s["bundle_after"] for s in series["change_points"]] == ["b06", "b12"]
    assert judged == [([1.0] * 6, [5.0] * 6), ([5.0] * 6, [40.0] * 6)]


def test_a_step_between_single_scrapes_pools_each_side_from_the_bundle_before_it():
    """Left side b1, b2 after b0; right side b3: the left's observations are b2 - b0 (its first period
    began at b0), the right's b3 - b2."""
    from etcd_perf.analyze.fleet.segments import _pool_histograms

    per = [[5] + [0] * 14, [1] * 15, [2] * 15, [0] * 14 + [7]]
    scrapes, running = [], [0] * 15
    for seen in per:
        running = [a + b for a, b in zip(running, seen, strict=True)]
        scrapes.append(_scrape(_cumulative(running))["members"][0])
    b0, b1, b2, b3 = scrapes
    left, right = _pool_histograms(WAL, [b1, b2], [b3], b0)
    counts = [c["count"] for c in left["wal_fsync"]["buckets"]]
    assert counts == _cumulative([a + b for a, b in zip(per[1], per[2], strict=True)])
    assert [c["count"] for c in right["wal_fsync"]["buckets"]] == _cumulative(per[3])
    # without the bundle before, the left's first period is not known: b2 - b1
    left, _ = _pool_histograms(WAL, [b1, b2], [b3])
    assert [c["count"] for c in left["wal_fsync"]["buckets"]] == _cumulative(per[2])
