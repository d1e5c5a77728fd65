"""Statistics of logged slow events: quantile properties that any honest summary must have."""

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.analyze.stats import summarize, total_ms

values = st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), min_size=1, max_size=200)


@given(values)
def test_quantiles_lie_within_the_data_and_are_ordered(xs):
    s = summarize(xs)
    assert s["count"] == len(xs)
    assert min(xs) <= s["p50"] <= s["p99"] <= s["max"] == max(xs)


@given(values, st.randoms())
def test_summary_does_not_depend_on_event_order(xs, rnd):
    shuffled = list(xs)
    rnd.shuffle(shuffled)
    a, b = summarize(xs), summarize(shuffled)
    assert a["count"] == b["count"] and a["max"] == b["max"]
    assert a["p50"] == pytest.approx(b["p50"]) and a["p99"] == pytest.approx(b["p99"])


def test_linear_interpolation_between_closest_ranks():
    s = summarize([1000.0, 2000.0, 3000.0, 4000.0])
    assert s["p50"] == 2500.0
    assert s["p99"] == pytest.approx(3970.0)


def test_no_events_is_a_count_of_zero_not_a_latency():
    assert summarize([]) == {"count": 0, "p50": None, "p99": None, "max": None}


# up to 100 s each, totals under 2^53 ns (104 days of time lost: exact in a float too)
nanoseconds = st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=200)


@given(nanoseconds, st.randoms())
def test_a_total_of_durations_is_exact_to_the_nanosecond_in_any_order(ns, rnd):
    # etcd prints durations to the nanosecond: as milliseconds they are ns / 1e6, and their total is exact
    frame = pl.DataFrame({"ms": [n / 1e6 for n in ns], "times": [rnd.randint(1, 400) for _ in ns]})
    exact = float(Decimal(sum(ns)) / Decimal(10**6))
    assert frame.select(total_ms(pl.col("ms"))).item() == exact
    weighted = float(Decimal(sum(n * t for n, t in zip(ns, frame["times"], strict=True))) / Decimal(10**6))
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rnd.randrange(2**32))
    assert shuffled.select(total_ms(pl.col("ms"), pl.col("times"))).item() == weighted
