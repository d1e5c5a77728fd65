"""The statistics compare judges by (analyze/compare/effect.py): properties that hold for any input."""

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.analyze.compare import effect
from etcd_perf.analyze.compare.effect import IMPROVED, MIRROR, NOT_COMPARABLE, REGRESSED, UNCHANGED

# etcd's WAL fsync and backend commit buckets: 1 ms doubling to 8.192 s, in ms
FSYNC_MS = [1.0 * 2**k for k in range(14)]
FSYNC_S = [b / 1000 for b in FSYNC_MS]

latency = st.floats(min_value=0.01, max_value=20_000, allow_nan=False)
counts = st.lists(st.integers(min_value=0, max_value=10_000), min_size=len(FSYNC_S) + 1, max_size=len(FSYNC_S) + 1)


def cumulative(per_bucket: list[int]) -> list[tuple[float, float]]:
    out, total = [], 0
    for le, n in zip([*FSYNC_S, math.inf], per_bucket, strict=True):
        total += n
        out.append((le, float(total)))
    return out


@given(latency, latency)
def test_quantile_verdict_mirrors_when_sides_swap(a, b):
    assert effect.quantile_verdict(b, a, FSYNC_MS) == MIRROR[effect.quantile_verdict(a, b, FSYNC_MS)]


@given(latency)
def test_a_quantile_equals_itself(a):
    assert effect.quantile_verdict(a, a, FSYNC_MS) == UNCHANGED


@given(latency, latency)
def test_a_shift_inside_one_bucket_is_no_change(a, b):
    """histogram_quantile interpolates inside a bucket: two values in the same bucket are indistinguishable."""
    if effect.bucket_of(a, FSYNC_MS) == effect.bucket_of(b, FSYNC_MS):
        assert effect.quantile_verdict(a, b, FSYNC_MS) == UNCHANGED


def test_quantile_resolution_examples():
    assert effect.quantile_verdict(7.9, 8.1, FSYNC_MS) == UNCHANGED  # across a bound, by 0.2 ms of a 4 ms bucket
    assert effect.quantile_verdict(5, 9, FSYNC_MS) == REGRESSED  # 4 ms: the (4, 8] bucket's width
    assert effect.quantile_verdict(900, 1100, FSYNC_MS) == UNCHANGED  # 200 ms in the (512, 1024] bucket
    assert effect.quantile_verdict(2, 1200, FSYNC_MS) == REGRESSED
    assert effect.quantile_verdict(1200, 2, FSYNC_MS) == IMPROVED
    assert effect.quantile_verdict(9000, 12000, FSYNC_MS) == UNCHANGED  # both above the last bound: +Inf bucket


@given(counts)
def test_wasserstein_of_a_histogram_with_itself_is_zero(c):
    h = cumulative(c)
    d = effect.wasserstein(h, h)
    assert d is None if sum(c) == 0 else d == 0


@given(counts, counts)
def test_wasserstein_is_symmetric_and_non_negative(a, b):
    ha, hb = cumulative(a), cumulative(b)
    d1, d2 = effect.wasserstein(ha, hb), effect.wasserstein(hb, ha)
    assert d1 == d2 or (d1 is not None and math.isclose(d1, d2, rel_tol=1e-9, abs_tol=1e-12))
    if d1 is not None:
        assert d1 >= 0
        # never more than the span of the midpoints
        mids = effect.midpoints([le for le, _ in ha])
        assert d1 <= mids[-1] - mids[0] + 1e-9


def test_wasserstein_moves_all_mass_by_the_midpoint_gap():
    a = [0] * (len(FSYNC_S) + 1)
    b = list(a)
    a[3], b[5] = 100, 100  # all in (4, 8] ms, against all in (16, 32] ms
    mids = effect.midpoints([*FSYNC_S, math.inf])
    assert math.isclose(effect.wasserstein(cumulative(a), cumulative(b)), mids[5] - mids[3])


def test_wasserstein_needs_the_same_buckets():
    assert effect.wasserstein([(0.1, 1.0), (math.inf, 2.0)], [(0.2, 1.0), (math.inf, 2.0)]) is None


rate_counts = st.integers(min_value=0, max_value=100_000)
hours = st.floats(min_value=0.01, max_value=1000, allow_nan=False)


@given(rate_counts, hours, rate_counts, hours)
def test_rate_verdict_mirrors(n1, t1, n2, t2):
    v = effect.rate_verdict(n1, t1, n2, t2, 3, 1.5)
    assert effect.rate_verdict(n2, t2, n1, t1, 3, 1.5) == MIRROR[v]


@given(rate_counts, hours)
def test_the_same_rate_is_no_change(n, t):
    assert effect.rate_verdict(n, t, 2 * n, 2 * t, 3, 1.5) == UNCHANGED


def test_rate_verdict_is_about_noise_and_effect():
    assert effect.rate_verdict(1, 1, 2, 1, 3, 1.5) == UNCHANGED  # once against twice: Poisson noise
    assert effect.rate_verdict(0, 1, 5, 1, 3, 1.5) == UNCHANGED  # 5 against 0: under 3 standard errors
    assert effect.rate_verdict(0, 1, 12, 1, 3, 1.5) == REGRESSED
    assert effect.rate_verdict(100_000, 1, 110_000, 1, 3, 1.5) == UNCHANGED  # beyond noise, but only 10 %
    assert effect.rate_verdict(0, 0, 12, 1, 3, 1.5) == NOT_COMPARABLE


sizes = st.floats(min_value=0, max_value=1e12, allow_nan=False)


@given(sizes, sizes, st.floats(0, 100), st.floats(0, 1e9))
def test_size_verdict_mirrors(a, b, pct, absolute):
    assert effect.size_verdict(b, a, pct, absolute) == MIRROR[effect.size_verdict(a, b, pct, absolute)]


@given(st.floats(0, 200), st.floats(0, 200), st.floats(0.1, 50))
def test_points_verdict_mirrors(a, b, points):
    assert effect.points_verdict(b, a, points) == MIRROR[effect.points_verdict(a, b, points)]


@given(counts, counts, st.booleans())
def test_a_later_scrape_of_one_run_adds_its_own_observations(before, added, restarted):
    """What a later cumulative scrape adds to an earlier one is its own observations, bucket by bucket; a
    restart between them (a count went down, or the difference is no histogram) or nothing added gives
    nothing to take apart."""
    base = cumulative(before)
    later = cumulative(added) if restarted else cumulative([a + b for a, b in zip(before, added, strict=True)])
    got = effect.since_baseline(base, later)
    diff = [c - b for (_, b), (_, c) in zip(base, later, strict=True)]
    not_one_run = min(diff) < 0 or any(y < x for x, y in itertools.pairwise(diff))
    if not_one_run or not any(diff):
        assert got is None
        assert restarted or not any(diff)  # one run's later scrape always reads as one
    else:
        assert got == [(le, c - b) for (le, b), (_, c) in zip(base, later, strict=True)]
        assert effect.total(got) == effect.total(later) - effect.total(base)
