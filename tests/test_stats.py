"""Statistics of logged slow events: quantile properties that any honest summary must have."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.analyze.stats import summarize

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
