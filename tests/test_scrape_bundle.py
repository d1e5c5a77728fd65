"""A collect.sh bundle without Prometheus: one /metrics scrape per member, each family headed by its HELP
and TYPE comments (tests/data/lab-3.4.23-series-scrapes, from the lab's series on real etcd)."""

import json
import re
import tarfile

import polars as pl

from etcd_perf.analyze import api
from etcd_perf.analyze.metric_measures import FAMILIES
from tests.factory import SERIES_SCRAPES

BUNDLE = SERIES_SCRAPES / "bundle.tar.gz"
SINCE_START = "metrics (single scrape: since member start)"


def _raw_samples() -> dict[tuple[str, str], int]:
    """Oracle independent of the reader: per member and family the analysis reads, the sample lines in
    the scrape's raw text."""
    out: dict[tuple[str, str], int] = {}
    with tarfile.open(BUNDLE) as tf:
        for m in tf:
            found = re.search(r"scrapes/etcd-(.+)\.prom$", m.name)
            if not found:
                continue
            for line in tf.extractfile(m).read().decode().splitlines():
                name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
                if name and name.group(0) in FAMILIES:
                    key = (found.group(1), name.group(0))
                    out[key] = out.get(key, 0) + 1
    return out


def test_every_family_the_analysis_reads_is_read_whole_from_each_scrape():
    result = api.analyze_bundle(BUNDLE, api.Options(duration="all"))
    got = result.bundle.metrics.group_by("member", "name").len()
    read = {(str(m), str(n)): c for m, n, c in got.iter_rows()}
    raw = _raw_samples()
    assert len({n for _, n in raw}) >= 12  # histograms, counters and gauges alike
    assert read == raw
    files = result.data["metrics"]["files"]
    assert [f["unparsed_lines"] for f in files] == [0, 0, 0] and all(f["samples"] > 1000 for f in files)


def test_the_throttled_member_is_named_and_every_latency_comes_from_its_scrape():
    truth = [json.loads(line) for line in (SERIES_SCRAPES / "ground_truth.jsonl").read_text().splitlines()]
    member = next(e["member"] for e in truth if e["event"] == "slow_disk_start")
    a = api.analyze_bundle(BUNDLE, api.Options(duration="all")).data
    assert a["exit_code"] == 2 and a["status"] == "CRITICAL"
    kpis = pl.DataFrame(a["kpis"]).filter(pl.col("id").is_in(["wal_fsync_p99", "backend_commit_p99", "peer_rtt_p99"]))
    assert kpis.height == 9 and set(kpis["source"]) == {SINCE_START} and kpis["value"].null_count() == 0
    slow = [f for f in a["findings"] if f["severity"] == "critical" and f["member"] == member]
    assert any(f["subsystem"] == "disk" for f in slow), a["findings"]
    assert f"slow disk on {member}" in a["diagnosis"]["headline"]


def test_two_scrapes_of_one_run_compare_by_what_the_later_one_observed():
    """Bundle 13 (before the throttle) against bundle 17: the throttled member's WAL fsync p99 is what it
    observed between the two scrapes, in seconds, not its distribution since start (7.5 -> 8.6 ms, which
    compare once called unchanged); swapping the sides mirrors it."""
    truth = [json.loads(line) for line in (SERIES_SCRAPES / "ground_truth.jsonl").read_text().splitlines()]
    member = next(e["member"] for e in truth if e["event"] == "slow_disk_start")
    c = api.compare_paths(SERIES_SCRAPES / "baseline.tar.gz", BUNDLE, api.Options(duration="all")).data
    row = next(r for r in c["kpis"] if (r["member"], r["kpi"]) == (member, "wal_fsync_p99"))
    assert row["verdict"] == "regressed" and row["candidate"] >= 1000 and row["baseline"] < 100, row
    assert row["detail"]["candidate_basis"] == "observed since the baseline's scrape"
    swapped = api.compare_paths(BUNDLE, SERIES_SCRAPES / "baseline.tar.gz", api.Options(duration="all")).data
    back = next(r for r in swapped["kpis"] if (r["member"], r["kpi"]) == (member, "wal_fsync_p99"))
    assert back["verdict"] == "improved" and (back["baseline"], back["candidate"]) == (
        row["candidate"],
        row["baseline"],
    )
