"""PromQL histogram_quantile over increase(): hand-checked cases and the properties any quantile must have.

Exact agreement with the real Prometheus engine is in test_prometheus_equivalence.py (needs the lab).
"""

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.histograms import histogram_quantiles, increases

BOUNDS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, math.inf]


def quantile(counts: dict[float, float], q: float) -> float:
    b = pl.DataFrame({"g": ["m"] * len(counts), "le": list(counts), "count": list(counts.values())})
    return histogram_quantiles(b, ["g"], [q])["value"][0]


def test_linear_interpolation_inside_the_bucket():
    # 100 observations: 50 below 1 ms, 90 below 2 ms, all below 4 ms
    counts = {0.001: 50.0, 0.002: 90.0, 0.004: 100.0, math.inf: 100.0}
    assert quantile(counts, 0.5) == pytest.approx(0.001)
    assert quantile(counts, 0.7) == pytest.approx(0.001 + 0.001 * (20 / 40))
    assert quantile(counts, 0.99) == pytest.approx(0.002 + 0.002 * (9 / 10))


def test_rank_in_the_inf_bucket_answers_the_second_highest_bound():
    assert quantile({0.001: 1.0, 0.002: 2.0, math.inf: 100.0}, 0.99) == 0.002


def test_prometheus_nan_cases():
    assert math.isnan(quantile({0.001: 1.0, 0.002: 2.0}, 0.5))  # no +Inf bucket
    assert math.isnan(quantile({0.001: 0.0, math.inf: 0.0}, 0.5))  # no observations
    assert math.isnan(quantile({math.inf: 5.0}, 0.5))  # fewer than two buckets


def test_non_monotonic_buckets_are_made_monotonic():
    # from extrapolation, a lower bucket may exceed a higher one; Prometheus takes the running max
    assert quantile({0.001: 10.0, 0.002: 9.0, 0.004: 20.0, math.inf: 20.0}, 0.5) == pytest.approx(0.001)


def series_frame(values: list[float], step_ms: int = 1000, t0: int = 1_000_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series": ["s"] * len(values),
            "member": ["m"] * len(values),
            "le": [1.0] * len(values),
            "ts_ms": [t0 + i * step_ms for i in range(len(values))],
            "value": values,
        }
    )


def increase_of(values: list[float], start_ms: int, end_ms: int, step_ms: int = 1000) -> float | None:
    windows = pl.DataFrame({"win": [0], "start_ms": [start_ms], "end_ms": [end_ms]})
    out = increases(series_frame(values, step_ms), windows, ["member", "le"])
    return out["increase"][0] if out.height else None


def test_increase_extrapolates_to_the_range_boundaries_like_prometheus():
    # samples 1 s apart from t0 to t0+9s, range [t0-0.5s, t0+9.5s]: both gaps below 1.1 s -> extrapolate fully
    assert increase_of([100.0 + i for i in range(10)], 999_500, 1_009_500) == pytest.approx(9 * 10 / 9)
    # a counter that starts at 0 has its zero point at the first sample: no extrapolation before it
    assert increase_of([float(i) for i in range(10)], 999_500, 1_009_500) == pytest.approx(9 * 9.5 / 9)
    # a 5 s gap at the start is more than 1.1 intervals -> extend by half an interval only
    assert increase_of([float(10 + i) for i in range(10)], 995_000, 1_009_000) == pytest.approx(9 * 9.5 / 9)


def test_a_counter_is_never_extrapolated_below_zero():
    # starts at 1 and grows by 10 a second: the zero point is 0.1 s before the first sample, so the
    # increase is extrapolated back 0.1 s (not the 2 s to the range start); the end is on the sample
    assert increase_of([1.0 + 10 * i for i in range(5)], 998_000, 1_004_000) == pytest.approx(40 * (4 + 0.1) / 4)


def test_counter_reset_adds_the_value_before_the_reset():
    assert increase_of([10.0, 20.0, 30.0, 5.0, 15.0], 1_000_000, 1_004_000) == pytest.approx(35.0)


def test_one_sample_in_range_gives_no_increase():
    assert increase_of([1.0, 2.0], 1_000_500, 1_001_500) is None


counts_strategy = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=len(BOUNDS), max_size=len(BOUNDS)
)


def cumulative(raw: list[float]) -> dict[float, float]:
    total, out = 0.0, {}
    for bound, c in zip(BOUNDS, raw, strict=True):
        total += c
        out[bound] = total
    return out


@settings(max_examples=150, deadline=None)
@given(counts_strategy, st.floats(0.01, 1), st.floats(0.01, 1))
def test_quantile_is_monotone_in_q(raw, q1, q2):
    counts = cumulative(raw)
    if counts[math.inf] == 0:
        return
    lo, hi = sorted((q1, q2))
    assert quantile(counts, lo) <= quantile(counts, hi) + 1e-12


@settings(max_examples=150, deadline=None)
@given(counts_strategy, st.floats(0.001, 1))
def test_quantile_lies_within_the_bounds_of_the_bucket_holding_the_rank(raw, q):
    counts = cumulative(raw)
    total = counts[math.inf]
    if total == 0:
        return
    value = quantile(counts, q)
    rank = q * total
    finite = BOUNDS[:-1]
    idx = next((i for i, b in enumerate(finite) if counts[b] >= rank), None)
    if idx is None:
        assert value == finite[-1]  # rank in the +Inf bucket
    else:
        lower = finite[idx - 1] if idx else 0.0
        assert lower - 1e-12 <= value <= finite[idx] + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=3, max_size=30), st.randoms())
def test_result_does_not_depend_on_sample_order(steps, rnd):
    values, total = [], 0.0
    for s in steps:
        total += s
        values.append(total)
    frame = series_frame(values)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 2**31))
    windows = pl.DataFrame({"win": [0], "start_ms": [999_000], "end_ms": [1_000_000 + 1000 * len(values)]})
    a = increases(frame, windows, ["member", "le"])["increase"].to_list()
    b = increases(shuffled, windows, ["member", "le"])["increase"].to_list()
    assert a == pytest.approx(b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=15), st.lists(st.integers(0, 50), min_size=1, max_size=15))
def test_a_reset_counts_like_an_uninterrupted_counter(before, after):
    """A member restart resets its counters; the increase must equal the one without the restart."""
    v, running = [], 0.0
    for s in before:
        running += s
        v.append(running)
    restarted, r = list(v), 0.0
    continuous = list(v)
    for s in after:
        r += s
        restarted.append(r)
        continuous.append(running + r)
    if restarted[len(v)] >= restarted[len(v) - 1]:
        return  # no visible reset (the new process counted past the old value already)
    end = 1_000_000 + 1000 * (len(restarted) - 1)
    assert increase_of(restarted, 1_000_000, end) == pytest.approx(increase_of(continuous, 1_000_000, end) or 0.0)
