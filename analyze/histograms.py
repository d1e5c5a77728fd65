"""PromQL's ``histogram_quantile(q, sum by (pod, le) (increase(<metric>_bucket[range])))``, offline.

Reproduces Prometheus 2.x (the engine up to the 2.5x series, as in Debian's 2.42 that the lab runs):
the range selects samples with ``start <= t <= end``; ``increase`` is ``extrapolatedRate`` — last
minus first, plus the value before each counter reset, extrapolated to the range boundaries when
the first/last sample lies within 1.1 average intervals of them (else by half an interval), never
extrapolating a counter below zero; a series needs two samples in the range. ``histogram_quantile``
sorts buckets, requires a ``+Inf`` bucket, forces cumulative counts monotonic, interpolates linearly
inside the bucket holding the rank, and answers the second-highest bound when the rank falls in the
``+Inf`` bucket. All of it is polars expressions over groups: no Python loop over samples.
"""

from __future__ import annotations

import polars as pl

SECOND = 1000.0


def increases(samples: pl.DataFrame, windows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``increase()`` of every series in every window.

    ``samples`` has ``series`` (any id), ``ts_ms``, ``value`` and the ``keys`` columns;
    ``windows`` has ``win``, ``start_ms``, ``end_ms``. Returns keys + ``win`` + ``series`` + ``increase``.
    """
    joined = samples.join(windows, how="cross") if "win" not in samples.columns else samples.join(windows, on="win")
    inside = joined.filter((pl.col("ts_ms") >= pl.col("start_ms")) & (pl.col("ts_ms") <= pl.col("end_ms")))
    prev = pl.col("value").shift(1)
    agg = (
        inside.sort("series", "win", "ts_ms")
        .group_by(["series", "win"], maintain_order=True)
        .agg(
            *[pl.col(k).first() for k in keys],
            pl.len().alias("n"),
            pl.col("value").first().alias("first_v"),
            pl.col("value").last().alias("last_v"),
            pl.col("ts_ms").first().alias("first_t"),
            pl.col("ts_ms").last().alias("last_t"),
            pl.when(pl.col("value") < prev).then(prev).otherwise(0.0).sum().alias("resets"),
            pl.col("start_ms").first(),
            pl.col("end_ms").first(),
        )
        .filter(pl.col("n") >= 2)
    )
    result = pl.col("last_v") - pl.col("first_v") + pl.col("resets")
    sampled = (pl.col("last_t") - pl.col("first_t")) / SECOND
    avg = sampled / (pl.col("n") - 1)
    to_start = (pl.col("first_t") - pl.col("start_ms")) / SECOND
    to_end = (pl.col("end_ms") - pl.col("last_t")) / SECOND
    to_zero = sampled * (pl.col("first_v") / pl.col("result"))
    to_start = (
        pl.when((pl.col("result") > 0) & (pl.col("first_v") >= 0) & (to_zero < to_start))
        .then(to_zero)
        .otherwise(to_start)
    )
    threshold = avg * 1.1
    extend_start = pl.when(pl.col("to_start") < threshold).then(pl.col("to_start")).otherwise(avg / 2)
    extend_end = pl.when(to_end < threshold).then(to_end).otherwise(avg / 2)
    return (
        agg.with_columns(result=result)
        .with_columns(to_start=to_start)
        .with_columns(increase=pl.col("result") * ((sampled + extend_start + extend_end) / sampled))
        .select(*keys, "win", "series", "increase")
    )


def histogram_quantiles(buckets: pl.DataFrame, group: list[str], qs: list[float]) -> pl.DataFrame:
    """``histogram_quantile`` for every group and q; ``buckets`` has group columns, ``le``, ``count``.

    Returns group + ``q`` + ``value`` (NaN where Prometheus answers NaN: no +Inf bucket, fewer than
    two buckets, no observations).
    """
    b = (
        buckets.group_by([*group, "le"])
        .agg(pl.col("count").sum())  # coalesce equal bounds
        .sort([*group, "le"])
        .with_columns(count=pl.col("count").cum_max().over(group))  # ensureMonotonic
        .with_columns(
            idx=pl.int_range(pl.len()).over(group),
            nb=pl.len().over(group),
            total=pl.col("count").last().over(group),
            has_inf=(pl.col("le").last() == float("inf")).over(group),
            prev_le=pl.col("le").shift(1).over(group),
            prev_count=pl.col("count").shift(1).over(group),
        )
    )
    qframe = pl.DataFrame({"q": qs}, schema={"q": pl.Float64})
    b = b.join(qframe, how="cross").with_columns(rank=pl.col("q") * pl.col("total"))
    # sort.Search over all but the last bucket: the first whose count reaches the rank
    hit = (
        b.filter((pl.col("idx") < pl.col("nb") - 1) & (pl.col("count") >= pl.col("rank")))
        .sort([*group, "q", "idx"])
        .group_by([*group, "q"], maintain_order=True)
        .first()
    )
    second_highest = b.filter(pl.col("idx") == pl.col("nb") - 2).select(*group, "q", pl.col("le").alias("second_le"))
    info = b.group_by([*group, "q"]).agg(pl.col("nb").first(), pl.col("total").first(), pl.col("has_inf").first())
    out = info.join(
        hit.select(*group, "q", "idx", "le", "count", "prev_le", "prev_count", "rank"),
        on=[*group, "q"],
        how="left",
        nulls_equal=True,
    )
    out = out.join(second_highest, on=[*group, "q"], how="left", nulls_equal=True)
    inside = pl.col("prev_le") + (pl.col("le") - pl.col("prev_le")) * (
        (pl.col("rank") - pl.col("prev_count")) / (pl.col("count") - pl.col("prev_count"))
    )
    first_bucket = (
        pl.when(pl.col("le") <= 0).then(pl.col("le")).otherwise(pl.col("le") * (pl.col("rank") / pl.col("count")))
    )
    value = (
        pl.when(~pl.col("has_inf") | (pl.col("nb") < 2) | (pl.col("total") == 0))
        .then(float("nan"))
        .when(pl.col("idx").is_null())
        .then(pl.col("second_le"))
        .when(pl.col("idx") == 0)
        .then(first_bucket)
        .otherwise(inside)
    )
    return out.select(*group, "q", value.alias("value")).sort([*group, "q"])


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """``histogram_quantiles`` of one histogram's cumulative ``(le, count)`` buckets (None where Prometheus
    answers NaN): what compare and the history compute on pooled or differenced buckets."""
    frame = pl.DataFrame(
        {"g": [0] * len(buckets), "le": [le for le, _ in buckets], "count": [c for _, c in buckets]},
        schema={"g": pl.Int64, "le": pl.Float64, "count": pl.Float64},
    )
    value = histogram_quantiles(frame, ["g"], [q])["value"][0] if buckets else None
    return None if value is None or value != value else value
