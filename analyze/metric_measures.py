"""True latency percentiles and counter rates per member, from the Prometheus samples in a bundle.

With a range of samples (an OpenMetrics dump) every figure is PromQL over the analysis window:
``histogram_quantile(q, sum by (pod, le) (increase(<m>_bucket[window])))``, plus one such p99 per
minute so that a two-minute stall cannot hide inside a fifteen-minute figure. With a single scrape
there is no window: the cumulative buckets are the distribution since the member started, and are
labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from etcd_perf.analyze.histograms import histogram_quantiles, increases
from etcd_perf.analyze.window import Window

HISTOGRAMS = {
    "wal_fsync": "etcd_disk_wal_fsync_duration_seconds_bucket",
    "backend_commit": "etcd_disk_backend_commit_duration_seconds_bucket",
    "peer_rtt": "etcd_network_peer_round_trip_time_seconds_bucket",
    "grpc_unary": "grpc_server_handling_seconds_bucket",
}
COUNTERS = {
    "leader_changes_seen": "etcd_server_leader_changes_seen_total",
    "proposals_failed": "etcd_server_proposals_failed_total",
    "slow_applies_counted": "etcd_server_slow_apply_total",
    "heartbeat_send_failures": "etcd_server_heartbeat_send_failures_total",
    "peer_sent_failures": "etcd_network_peer_sent_failures_total",
}
GAUGES = {
    "proposals_pending": "etcd_server_proposals_pending",
    "db_total_bytes_metric": "etcd_mvcc_db_total_size_in_bytes",
    "db_in_use_bytes_metric": "etcd_mvcc_db_total_size_in_use_in_bytes",
    "db_quota_bytes_metric": "etcd_server_quota_backend_bytes",
}
# every family the analysis reads: the bundle keeps these and skips the rest of a dump unparsed
FAMILIES = (*HISTOGRAMS.values(), *COUNTERS.values(), *GAUGES.values())
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
MINUTE_MS = 60_000
SOURCE_RANGE = "metrics"
SOURCE_SINCE_START = "metrics (single scrape: since member start)"


@dataclass
class MetricMeasures:
    """Per member: signals (``wal_fsync_p99_ms`` ...) and per-minute p99 series for charts."""

    signals: dict[str, dict[str, object]] = field(default_factory=dict)
    minutes: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    per_peer: dict[str, list[dict]] = field(default_factory=dict)
    # per member and histogram: the window's cumulative bucket counts [(le, count)], for compare to judge
    # a shift against the bucket it lies in and to measure the distance between two distributions
    buckets: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    available: bool = False


def _histogram_samples(metrics: pl.DataFrame, name: str) -> pl.DataFrame:
    rows = metrics.filter((pl.col("name") == name) & pl.col("member").is_not_null() & pl.col("le").is_not_null())
    if name == HISTOGRAMS["grpc_unary"]:
        rows = rows.filter((pl.col("grpc_type") == "unary") & (pl.col("grpc_method") != "Defragment"))
    return rows.with_columns(series=pl.struct("member", "source", "name", "labels"))


def _bounds(window: Window, samples: pl.DataFrame) -> tuple[int, int]:
    start = int(window.start.timestamp() * 1000) if window.start else int(samples["ts_ms"].min())
    end = int(window.end.timestamp() * 1000) if window.end else int(samples["ts_ms"].max())
    return start, end


def _ranged_members(samples: pl.DataFrame, start: int, end: int) -> set[str]:
    """Members with at least two samples of one series in the window: PromQL over a range applies."""
    inside = samples.filter(pl.col("ts_ms").is_between(start, end))
    counts = inside.group_by("member", "series").len().filter(pl.col("len") >= 2)
    return set(counts["member"].unique().to_list())


def _since_start_buckets(samples: pl.DataFrame, group: list[str]) -> pl.DataFrame:
    last = (
        samples.sort("ts_ms")
        .group_by("series")
        .agg(*[pl.col(g).last() for g in group], pl.col("le").last(), pl.col("value").last())
    )
    return last.group_by([*group, "le"]).agg(pl.col("value").sum().alias("count"))


def _window_buckets(samples: pl.DataFrame, group: list[str], start: int, end: int) -> pl.DataFrame:
    windows = pl.DataFrame({"win": [0], "start_ms": [start], "end_ms": [end]})
    inc = increases(samples, windows, [*group, "le"])
    return inc.group_by([*group, "le"]).agg(pl.col("increase").sum().alias("count"))


def _minute_buckets(samples: pl.DataFrame, start: int, end: int) -> pl.DataFrame:
    """Buckets per member per minute: ``increase(...[1m])`` evaluated every 60 s back from the window end.

    Aligned to the end so the last minute before collection (often the worst) is never cut off.
    """
    count = (end - start) // MINUTE_MS
    if samples.height:  # minutes before the first sample are empty: a --since years back must not list them
        count = min(count, (end - samples["ts_ms"].min()) // MINUTE_MS + 2)
    if count < 1 or not samples.height:
        return pl.DataFrame(schema={"member": pl.String, "win": pl.Int64, "le": pl.Float64, "count": pl.Float64})
    ends = [end - k * MINUTE_MS for k in range(count)]
    windows = pl.DataFrame({"win": ends, "start_ms": [e - MINUTE_MS for e in ends], "end_ms": ends})
    inside = samples.filter(pl.col("ts_ms").is_between(ends[-1] - MINUTE_MS, end))
    back = end - pl.col("ts_ms")
    # the window whose end is at or after the sample; a sample exactly on a boundary also starts the next
    assigned = pl.concat(
        [
            inside.with_columns(win=end - (back // MINUTE_MS) * MINUTE_MS),
            inside.filter((back % MINUTE_MS == 0) & (back > 0)).with_columns(win=pl.col("ts_ms") + MINUTE_MS),
        ]
    ).filter(pl.col("win").is_in(ends))
    inc = increases(assigned, windows, ["member", "le"])
    return inc.group_by(["member", "win", "le"]).agg(pl.col("increase").sum().alias("count"))


def _ms(value: float | None) -> float | None:
    if value is None or value != value:  # NaN: Prometheus has no answer
        return None
    return value * 1000.0  # full precision: equal to Prometheus's answer, not a rounded copy


def compute(metrics: pl.DataFrame, window: Window) -> MetricMeasures:
    out = MetricMeasures()
    if metrics.height == 0:
        return out
    for key, name in HISTOGRAMS.items():
        samples = _histogram_samples(metrics, name)
        if samples.height == 0:
            continue
        start, end = _bounds(window, samples)
        ranged = _ranged_members(samples, start, end)
        since = samples.filter(~pl.col("member").is_in(list(ranged)))
        parts = []
        if ranged:
            parts.append(_window_buckets(samples.filter(pl.col("member").is_in(list(ranged))), ["member"], start, end))
        if since.height:
            parts.append(_since_start_buckets(since, ["member"]))
        buckets = pl.concat(parts)
        q = histogram_quantiles(buckets, ["member"], list(QUANTILES.values()))
        if key == "wal_fsync":
            _slow_fsync_counts(out, buckets)
        _keep_buckets(out, key, buckets)
        for member, qv, value in q.iter_rows():
            sig = out.signals.setdefault(member, {})
            label = next(k for k, v in QUANTILES.items() if v == qv)
            sig[f"{key}_{label}_ms"] = _ms(value)
            sig[f"{key}_source"] = SOURCE_RANGE if member in ranged else SOURCE_SINCE_START
        out.available = True
        if ranged:
            _worst_minutes(out, key, samples.filter(pl.col("member").is_in(list(ranged))), start, end)
        if key == "peer_rtt":
            _per_peer(out, samples, ranged, start, end)
    _counters_and_gauges(out, metrics, window)
    return out


def _keep_buckets(out: MetricMeasures, key: str, buckets: pl.DataFrame) -> None:
    summed = buckets.group_by("member", "le").agg(pl.col("count").sum()).sort("member", "le")
    for (member,), rows in summed.group_by("member", maintain_order=True):
        out.buckets.setdefault(str(member), {})[key] = [
            (le, round(c, 6)) for le, c in rows.select("le", "count").iter_rows()
        ]


def _slow_fsync_counts(out: MetricMeasures, buckets: pl.DataFrame) -> None:
    """Fsyncs above the 1.024 s bucket: the metrics' own count of what etcd logs as slow (over 1 s)."""
    per = buckets.group_by("member").agg(
        (
            pl.col("count").filter(pl.col("le") == float("inf")).sum()
            - pl.col("count").filter(pl.col("le") == 1.024).sum()
        ).alias("over")
    )
    for member, over in per.iter_rows():
        out.signals.setdefault(member, {})["wal_fsync_over_1s_counted"] = over


def _worst_minutes(out: MetricMeasures, key: str, samples: pl.DataFrame, start: int, end: int) -> None:
    buckets = _minute_buckets(samples, start, end)
    if buckets.height == 0:
        return
    q = histogram_quantiles(buckets, ["member", "win"], [0.99]).filter(~pl.col("value").is_nan()).sort("member", "win")
    for member, rows in q.group_by("member", maintain_order=True):
        series = [{"minute_end_ms": int(w), "p99_ms": _ms(v)} for w, v in rows.select("win", "value").iter_rows()]
        out.minutes.setdefault(str(member[0]), {})[key] = series
        worst = max(series, key=lambda r: (r["p99_ms"], -r["minute_end_ms"]))
        sig = out.signals.setdefault(str(member[0]), {})
        sig[f"{key}_worst_minute_p99_ms"] = worst["p99_ms"]
        sig[f"{key}_worst_minute_end_ms"] = worst["minute_end_ms"]


def _per_peer(out: MetricMeasures, samples: pl.DataFrame, ranged: set[str], start: int, end: int) -> None:
    parts = []
    if ranged:
        parts.append(
            _window_buckets(samples.filter(pl.col("member").is_in(list(ranged))), ["member", "peer"], start, end)
        )
    rest = samples.filter(~pl.col("member").is_in(list(ranged)))
    if rest.height:
        parts.append(_since_start_buckets(rest, ["member", "peer"]))
    q = histogram_quantiles(pl.concat(parts), ["member", "peer"], [0.5, 0.99]).sort("member", "peer", "q")
    for (member, peer), rows in q.group_by("member", "peer", maintain_order=True):
        vals = dict(rows.select("q", "value").iter_rows())
        out.per_peer.setdefault(member, []).append(
            {"peer": peer, "p50_ms": _ms(vals.get(0.5)), "p99_ms": _ms(vals.get(0.99))}
        )


def _counters_and_gauges(out: MetricMeasures, metrics: pl.DataFrame, window: Window) -> None:
    for key, name in COUNTERS.items():
        samples = metrics.filter((pl.col("name") == name) & pl.col("member").is_not_null()).with_columns(
            series=pl.struct("member", "source", "name", "labels")
        )
        if samples.height == 0:
            continue
        start, end = _bounds(window, samples)
        ranged = _ranged_members(samples, start, end)
        if ranged:
            inc = increases(
                samples.filter(pl.col("member").is_in(list(ranged))),
                pl.DataFrame({"win": [0], "start_ms": [start], "end_ms": [end]}),
                ["member"],
            )
            for member, total in inc.group_by("member").agg(pl.col("increase").sum()).iter_rows():
                out.signals.setdefault(member, {})[key] = round(total, 6)
        last = (
            samples.filter(~pl.col("member").is_in(list(ranged)))
            .sort("ts_ms")
            .group_by("series")
            .agg(pl.col("member").last(), pl.col("value").last())
        )
        for member, total in last.group_by("member").agg(pl.col("value").sum()).iter_rows():
            out.signals.setdefault(member, {})[f"{key}_since_start"] = total
    for key, name in GAUGES.items():
        samples = metrics.filter((pl.col("name") == name) & pl.col("member").is_not_null())
        if window.end is not None:
            samples = samples.filter(pl.col("ts_ms") <= int(window.end.timestamp() * 1000))
        last = samples.sort("ts_ms").group_by("member").agg(pl.col("value").last())
        for member, value in last.iter_rows():
            out.signals.setdefault(member, {})[key] = value
