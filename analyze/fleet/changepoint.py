"""Change points in a KPI's series over a cluster's bundles: E-divisive means.

The method is Matteson & James, "A Nonparametric Approach for Multiple Change Point Analysis of
Multivariate Data", JASA 109 (2014), as MongoDB's performance CI, Apache Otava (incubating, formerly
Hunter) and Orion (kube-burner results) use it for benchmark series: no assumption about the
distribution, only that the series' mean distance between points changes. With ``alpha = 1``:

- for a split of a segment into ``X = z[a:t]`` and ``Y = z[t:b]``, the energy statistic is
  ``Q = (m n / (m + n)) (2 E|X - Y| - E|X - X'| - E|Y - Y'|)``; the best split maximises it;
- the split is significant when fewer than ``p_value`` of ``permutations`` shuffles of the segment reach
  as high a ``Q`` (the shuffles use a fixed seed: the same series, the same change points);
- segments are bisected until no significant split is left (each side keeps ``min_size`` points).

A bundle series is short (tens to hundreds of points), so this is plain Python, O(n^2) per segment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SEED = 20140101  # the same series always gives the same change points


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first point after the change
    q: float
    p_value: float


def _best_split(z: list[float], min_size: int) -> tuple[int, float]:
    """The split index (relative to ``z``) maximising the energy statistic, and that statistic: O(n^2), the
    within-segment sums updated as the split moves right one point at a time."""
    n = len(z)
    d = [[abs(a - b) for b in z] for a in z]
    total = sum(d[i][j] for i in range(n) for j in range(i + 1, n))
    within_x, within_y = 0.0, total
    best_t, best_q = -1, float("-inf")
    for t in range(1, n):
        # point t-1 moves from the right segment to the left one
        p = t - 1
        within_x += sum(d[i][p] for i in range(p))
        within_y -= sum(d[p][j] for j in range(p + 1, n))
        if t < min_size or n - t < min_size:
            continue
        m, k = t, n - t
        between = total - within_x - within_y
        e_xy = 2.0 * between / (m * k)
        e_xx = within_x / (m * (m - 1) / 2) if m > 1 else 0.0
        e_yy = within_y / (k * (k - 1) / 2) if k > 1 else 0.0
        q = (m * k / (m + k)) * (e_xy - e_xx - e_yy)
        if best_t < 0 or q > best_q + 1e-9 * abs(best_q):  # relative: the same split in any unit
            best_t, best_q = t, q
    return best_t, best_q


def change_points(
    series: list[float], min_size: int = 3, p_value: float = 0.01, permutations: int = 199
) -> list[ChangePoint]:
    """Indexes where the series' distribution changes (E-divisive means, bisection with a permutation test)."""
    values = [float(v) for v in series]
    rng = random.Random(SEED)
    found: list[ChangePoint] = []
    segments = [(0, len(values))]
    while segments:
        a, b = segments.pop()
        z = values[a:b]
        if len(z) < 2 * min_size or len(set(z)) < 2:
            continue
        t, q = _best_split(z, min_size)
        if t < 0:
            continue
        reach = 0
        for _ in range(permutations):
            shuffled = z[:]
            rng.shuffle(shuffled)
            if _best_split(shuffled, min_size)[1] >= q - 1e-9 * abs(q):  # relative: any unit
                reach += 1
        p = (reach + 1) / (permutations + 1)
        if p > p_value:
            continue
        found.append(ChangePoint(a + t, q, p))
        segments.extend([(a, a + t), (a + t, b)])
    return sorted(found, key=lambda c: c.index)
