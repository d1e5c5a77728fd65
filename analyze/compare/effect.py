"""Is a change more than the measurement can resolve? The statistics compare judges by.

Every judgement here is of an effect size against the resolution of the measurement, never a p-value
on huge counts (a million fsyncs make any difference "significant"):

- a histogram quantile is known only to the bucket it lies in: ``histogram_quantile`` interpolates
  linearly inside the bucket, so where in the bucket it lies is an assumption. A shift smaller than the
  width of the bucket the smaller value lies in is no change;
- two histograms' distributions are compared by the 1-Wasserstein (earth mover's) distance over bucket
  midpoints: how far, in milliseconds, the mass of one has to move to become the other;
- counts of logged events are Poisson: two rates differ when the difference exceeds ``sigmas`` standard
  errors *and* a minimum ratio, so a rare event seen twice instead of once is noise;
- sizes and percentages change by a minimum absolute and relative amount.

Every test is symmetric in its two sides, so swapping baseline and candidate mirrors every verdict.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

IMPROVED, REGRESSED, UNCHANGED, NOT_COMPARABLE = "improved", "regressed", "unchanged", "not comparable"
MIRROR = {IMPROVED: REGRESSED, REGRESSED: IMPROVED, UNCHANGED: UNCHANGED, NOT_COMPARABLE: NOT_COMPARABLE}

Buckets = Sequence[tuple[float, float]]  # cumulative (le, count), as Prometheus exposes them


def direction(baseline: float, candidate: float, better: str = "lower") -> str:
    if candidate == baseline:
        return UNCHANGED
    worse = candidate > baseline if better == "lower" else candidate < baseline
    return REGRESSED if worse else IMPROVED


def bucket_of(value: float, bounds: Sequence[float]) -> tuple[float, float]:
    """The bucket ``(lower, upper]`` that holds ``value``; bounds are the finite ``le`` values, sorted.
    Above the last bound: ``(last, inf)``."""
    lower = 0.0
    for upper in bounds:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, math.inf


def resolution(a: float, b: float, bounds: Sequence[float]) -> float:
    """The smallest shift the histogram resolves between ``a`` and ``b``: the width of the bucket the smaller
    of them lies in; infinite in the ``+Inf`` bucket, which has no width (Prometheus reports a quantile there
    as the last finite bound)."""
    lower, upper = bucket_of(min(a, b), bounds)
    return upper - lower


def quantile_verdict(baseline: float, candidate: float, bounds: Sequence[float], better: str = "lower") -> str:
    if abs(candidate - baseline) < resolution(baseline, candidate, bounds):
        return UNCHANGED
    return direction(baseline, candidate, better)


def shares(buckets: Buckets) -> list[tuple[float, float]]:
    """Each bucket's share of the observations, by its upper bound (cumulative counts made monotonic)."""
    out, prev, top = [], 0.0, 0.0
    for _, count in buckets:
        top = max(top, count)
    if top <= 0:
        return []
    for le, count in buckets:
        c = max(count, prev)
        out.append((le, (c - prev) / top))
        prev = c
    return out


def midpoints(bounds: Sequence[float]) -> list[float]:
    """Where each bucket's mass sits: its midpoint; the ``+Inf`` bucket at the last finite bound."""
    out, lower = [], 0.0
    for upper in bounds:
        out.append(lower if not math.isfinite(upper) else (lower + upper) / 2)
        if math.isfinite(upper):
            lower = upper
    return out


def wasserstein(a: Buckets, b: Buckets) -> float | None:
    """1-Wasserstein distance between two histograms with the same bounds, mass at bucket midpoints:
    ``sum |F_a - F_b| * gap`` over consecutive midpoints. None when either is empty or the bounds differ."""
    if [le for le, _ in a] != [le for le, _ in b]:
        return None
    sa, sb = shares(a), shares(b)
    if not sa or not sb:
        return None
    points = midpoints([le for le, _ in a])
    distance, fa, fb = 0.0, 0.0, 0.0
    for i in range(len(points) - 1):
        fa += sa[i][1]
        fb += sb[i][1]
        distance += abs(fa - fb) * (points[i + 1] - points[i])
    return max(distance, 0.0)


def since_baseline(base: Buckets, cand: Buckets) -> Buckets | None:
    """The observations a later cumulative scrape adds to an earlier one of the same run, bucket by bucket;
    None when the two are not one run (a count went down, or what was added is no histogram: its counts
    fall from one bound to the next; the member restarted between them, and the later scrape is all its
    own, as Prometheus' ``increase`` reads a reset), the bounds differ, or nothing was added."""
    if [le for le, _ in base] != [le for le, _ in cand]:
        return None
    out = [(le, c - b) for (le, b), (_, c) in zip(base, cand, strict=True)]
    falls = any(b < a - 1e-6 for (_, a), (_, b) in itertools.pairwise(out))
    if falls or any(c < -1e-6 for _, c in out) or not total(out):
        return None
    return [(le, max(c, 0.0)) for le, c in out]


def total(buckets: Buckets) -> float:
    return max((c for _, c in buckets), default=0.0)


def _log_binomial_pmf(k: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (summed in log space)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    if k <= n * p:  # at or below the mean: one minus the lower tail, which lies beyond the mode
        return 1.0 - _tail(range(k - 1, -1, -1), n, p)
    return _tail(range(k, n + 1), n, p)


def _tail(ks: range, n: int, p: float) -> float:
    """Sum of the pmf over ``ks``, which run away from the mode: the terms shrink, so the sum stops once
    they no longer count (a million observations cost a few dozen terms, not a million)."""
    first = _log_binomial_pmf(ks[0], n, p) if len(ks) else -math.inf
    terms = []
    for i in ks:
        x = _log_binomial_pmf(i, n, p)
        terms.append(x)
        if x < first - 50:  # e^-50: nothing further adds to the sum at double precision
            break
    if not terms:
        return 0.0
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(x - top) for x in terms))


def noise_level(sigmas: float) -> float:
    """The one-sided tail of a normal distribution beyond ``sigmas``: 3 -> 0.00135."""
    return 0.5 * math.erfc(sigmas / math.sqrt(2))


def beyond_poisson_noise(n1: float, t1: float, n2: float, t2: float, sigmas: float) -> bool:
    """Whether two Poisson counts over exposures t1, t2 split more unevenly than their rates being equal
    explains: given the total, the second count is Binomial(total, t2 / (t1 + t2)) under equal rates; the
    split is beyond noise when as extreme a split has less than the ``sigmas``-sigma chance. Exact for the
    few events a log holds (a normal approximation would call 0 against 5 a change), symmetric in the sides.
    Counts from extrapolated counters are rounded."""
    k1, k2 = round(n1), round(n2)
    total = k1 + k2
    if total == 0 or t1 <= 0 or t2 <= 0:
        return False
    p = t2 / (t1 + t2)
    level = noise_level(sigmas)
    if k2 / t2 > k1 / t1:
        return binomial_upper_tail(k2, total, p) < level
    if k2 / t2 < k1 / t1:
        return binomial_upper_tail(k1, total, 1 - p) < level
    return False


def rate_verdict(
    n_base: float, hours_base: float, n_cand: float, hours_cand: float, sigmas: float, min_ratio: float
) -> str:
    """Two Poisson counts over different exposures: changed when the split is beyond Poisson noise at
    ``sigmas`` (``beyond_poisson_noise``) and the larger rate is at least ``min_ratio`` times the smaller:
    an effect, not only a detectable one. Nothing seen on either side is no change."""
    if hours_base <= 0 or hours_cand <= 0:
        return NOT_COMPARABLE
    r1, r2 = n_base / hours_base, n_cand / hours_cand
    lo, hi = min(r1, r2), max(r1, r2)
    if not beyond_poisson_noise(n_base, hours_base, n_cand, hours_cand, sigmas) or (lo > 0 and hi / lo < min_ratio):
        return UNCHANGED
    return direction(r1, r2)


def above(buckets: Buckets, bound: float) -> float:
    """Observations above ``bound`` (a bucket's upper bound): the total less the cumulative count at it."""
    at = max((c for le, c in buckets if le <= bound), default=0.0)
    return max(total(buckets) - at, 0.0)


def histogram_verdict(
    baseline: float,
    candidate: float,
    base_buckets: Buckets,
    cand_buckets: Buckets,
    sigmas: float,
    min_ratio: float,
    scale: float = 1000.0,
    better: str = "lower",
) -> str:
    """A quantile of two histograms with the same bounds (``scale``: the quantile's unit per bucket unit).

    Changed when (1) the shift is beyond the bucket the smaller value lies in, and (2) the share of
    observations above that bucket differs between the sides by more than Poisson noise and by
    ``min_ratio``: a p99 from eleven fsyncs moves with every one of them, a tail of eleven out of eleven
    above the baseline's bucket does not."""
    bounds = [le * scale for le, _ in base_buckets if math.isfinite(le)]
    shift = quantile_verdict(baseline, candidate, bounds, better)
    if shift == UNCHANGED:
        return UNCHANGED
    _, upper = bucket_of(min(baseline, candidate), bounds)
    e1, e2 = above(base_buckets, upper / scale), above(cand_buckets, upper / scale)
    tail = rate_verdict(e1, total(base_buckets), e2, total(cand_buckets), sigmas, min_ratio)
    return shift if tail == shift else UNCHANGED


def size_verdict(baseline: float, candidate: float, min_relative_pct: float, min_absolute: float) -> str:
    """Changed when the change is at least ``min_absolute`` and ``min_relative_pct`` of the smaller side."""
    delta = abs(candidate - baseline)
    smaller = min(abs(baseline), abs(candidate))
    if delta < min_absolute or (smaller > 0 and delta * 100 < min_relative_pct * smaller):
        return UNCHANGED
    return direction(baseline, candidate)


def points_verdict(baseline: float, candidate: float, min_points: float) -> str:
    return UNCHANGED if abs(candidate - baseline) < min_points else direction(baseline, candidate)
