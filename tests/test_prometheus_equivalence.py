"""Our histogram_quantile over increase() equals the real Prometheus engine's, to 1e-9 relative.

A real etcd cluster under load is scraped every second by Debian's Prometheus; one member is killed
and restarted midway, so its counters reset. The samples are dumped the way collect.sh gets them
(promtool's OpenMetrics format, through the lab's `oc` shim path), read by gather.metrics, and
every figure is compared with what Prometheus answers over its HTTP API for the same expression at
the same evaluation time.
"""

import math
import os
import shutil
import sys
import time
from datetime import UTC, datetime

import polars as pl
import pytest

from etcd_perf.analyze import metric_measures
from etcd_perf.analyze.histograms import histogram_quantiles, increases
from etcd_perf.analyze.window import Window
from etcd_perf.gather.metrics import parse_samples
from tests.factory import REPO

sys.path.insert(0, str(REPO / "scripts" / "lab"))
import etcdlab
import prom
import scenario

ETCD = os.environ.get("LAB_ETCD") or shutil.which("etcd")
ETCDCTL = os.environ.get("LAB_ETCDCTL") or shutil.which("etcdctl")
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        not (ETCD and ETCDCTL and shutil.which("prometheus")),
        reason="needs etcd, etcdctl and prometheus (Debian: etcd-server etcd-client prometheus)",
    ),
]

METRICS = {
    "wal_fsync": ("etcd_disk_wal_fsync_duration_seconds_bucket", ""),
    "backend_commit": ("etcd_disk_backend_commit_duration_seconds_bucket", ""),
    "peer_rtt": ("etcd_network_peer_round_trip_time_seconds_bucket", ""),
    "grpc_unary": ("grpc_server_handling_seconds_bucket", 'grpc_type="unary",grpc_method!="Defragment"'),
}
RANGES_S = [15, 30, 45, 60]
QS = [0.5, 0.9, 0.99]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    lab = tmp_path_factory.mktemp("promlab") / "lab"
    state = etcdlab.start_cluster(lab, ETCD, ETCDCTL)
    try:
        prom.start(lab, "1s")
        with scenario.Load(state):
            time.sleep(35)
            etcdlab.kill_member(lab, "master-2")
            time.sleep(2)
            etcdlab.restart_member(lab, "master-2")
            time.sleep(40)
        end_ms = (int(time.time()) - 2) * 1000
        matches = [f'{name}{{job=~".*etcd.*"{"," + extra if extra else ""}}}' for name, extra in METRICS.values()]
        dump = prom.dump(lab, matches, end_ms - 120_000, end_ms)
        samples, bad = parse_samples(dump.encode(), "openmetrics dump", "dump", None)
        assert bad == 0 and samples.height > 1000
        samples = samples.with_columns(
            member=pl.col("pod").str.slice(5), series=pl.concat_str("pod", "name", "labels", separator="|")
        )
        yield lab, samples, end_ms
    finally:
        prom.stop(lab)
        etcdlab.stop_cluster(lab)


def prometheus_answer(lab, name, extra, q, range_s, at_ms):
    selector = f"{name}{{{extra}}}" if extra else name
    expr = f"histogram_quantile({q}, sum by (pod, le) (increase({selector}[{range_s}s])))"
    return {r["metric"]["pod"][5:]: float(r["value"][1]) for r in prom.query(lab, expr, at_ms / 1000)}


def ours(samples, name, q, range_s, at_ms):
    rows = samples.filter(pl.col("name") == name)
    if name == METRICS["grpc_unary"][0]:
        rows = rows.filter((pl.col("grpc_type") == "unary") & (pl.col("grpc_method") != "Defragment"))
    windows = pl.DataFrame({"win": [0], "start_ms": [at_ms - range_s * 1000], "end_ms": [at_ms]})
    buckets = (
        increases(rows, windows, ["member", "le"]).group_by("member", "le").agg(pl.col("increase").sum().alias("count"))
    )
    return dict(histogram_quantiles(buckets, ["member"], [q]).select("member", "value").iter_rows())


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


@pytest.mark.parametrize("key", list(METRICS))
def test_quantiles_equal_prometheus_for_every_range_and_q(scraped, key):
    lab, samples, end_ms = scraped
    name, extra = METRICS[key]
    compared = 0
    for range_s in RANGES_S:
        for at_ms in (end_ms, end_ms - 7_000):
            for q in QS:
                theirs = prometheus_answer(lab, name, extra, q, range_s, at_ms)
                mine = ours(samples, name, q, range_s, at_ms)
                assert set(mine) == set(theirs), (key, range_s, q)
                for member, value in theirs.items():
                    assert same(mine[member], value), (key, range_s, at_ms, q, member, mine[member], value)
                    compared += 1
    assert compared >= 3 * len(RANGES_S) * 2 * len(QS)


def test_the_window_across_a_counter_reset_matches(scraped):
    """master-2 restarted inside the 60 s range: its buckets reset, the answer must still agree."""
    lab, samples, end_ms = scraped
    restarted = samples.filter((pl.col("member") == "master-2") & (pl.col("name") == METRICS["wal_fsync"][0]))
    assert restarted.sort("ts_ms")["value"].diff().min() < 0  # a reset really is in the data
    name = METRICS["wal_fsync"][0]
    assert same(
        ours(samples, name, 0.99, 60, end_ms)["master-2"],
        prometheus_answer(lab, name, "", 0.99, 60, end_ms)["master-2"],
    )


def test_member_kpis_and_worst_minute_equal_prometheus(scraped):
    lab, samples, end_ms = scraped
    window = Window(
        start=datetime.fromtimestamp((end_ms - 60_000) / 1000, UTC),
        end=datetime.fromtimestamp(end_ms / 1000, UTC),
        label="test",
    )
    mm = metric_measures.compute(samples.drop("series"), window)
    for key, (name, extra) in METRICS.items():
        theirs = prometheus_answer(lab, name, extra, 0.99, 60, end_ms)
        for member, value in theirs.items():
            assert mm.signals[member][f"{key}_source"] == "metrics"
            mine = mm.signals[member][f"{key}_p99_ms"]
            assert (mine is None and math.isnan(value)) or same(mine / 1000, value), (key, member)
    # each per-minute p99 is PromQL's [1m] range at that whole minute
    for member, series in mm.minutes.items():
        for point in series.get("wal_fsync", []):
            theirs = prometheus_answer(lab, METRICS["wal_fsync"][0], "", 0.99, 60, point["minute_end_ms"])
            assert same(point["p99_ms"] / 1000, theirs[member]), (member, point)
