"""Many bundles on Dask distributed (``etcd-perf ingest``) into the Parquet store, and a cluster's history
over them (``etcd-perf history``): on a real LocalCluster of worker processes."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from etcd_perf.analyze import api
from etcd_perf.analyze.fleet import store as st
from etcd_perf.analyze.fleet.changepoint import change_points
from etcd_perf.analyze.fleet.history import history
from etcd_perf.analyze.fleet.ingest import ingest
from tests.factory import REPO, SAMPLE

distributed = pytest.importorskip("distributed")

PAIR = REPO / "tests" / "data" / "lab-3.5.16-before-after"
REAL = sorted((REPO / "tests" / "data" / "real").glob("*.tar.xz"))
ROW_TABLES = [t for t in st.TABLES if t != "analyses"]


def assert_stored_as_analysed(store: Path, path: Path, options: api.Options) -> str:
    """The store's rows of ``path`` are exactly the rows of its own analysis, table by table."""
    digest = st.content_hash(path)
    bid = st.bundle_id(digest)
    analysis = api.analyze_bundle(path, options).data
    expected = st.rows_of(analysis, bid, digest, str(path))
    for table in st.TABLES:
        got = st.scan(store, table).filter(pl.col("bundle_id") == bid).drop("cluster").collect()
        want = pl.DataFrame(expected[table], schema=st.SCHEMAS[table], orient="row")
        if table == "analyses":
            assert json.loads(got["analysis"][0]) == json.loads(want["analysis"][0])
            continue
        cols = [c for c in want.columns if want[c].dtype != pl.Null]
        assert got.sort(cols, nulls_last=True).equals(want.sort(cols, nulls_last=True)), table
    return bid


def copies(tmp: Path, source: Path, n: int) -> list[Path]:
    """``n`` distinct bundles (distinct content hashes) with the same etcd data."""
    out = []
    for i in range(n):
        d = tmp / f"copy-{i:02d}"
        shutil.copytree(source, d)
        (d / "case-note.txt").write_text(f"copy {i}\n")
        out.append(d)
    return out


def hostile(tmp: Path) -> list[Path]:
    """Bundles that cannot be analysed: not a bundle, empty, garbage, traversal only, missing."""
    garbage = tmp / "garbage.tar.gz"
    garbage.write_bytes(os.urandom(4096))
    empty = tmp / "empty-bundle"
    empty.mkdir()
    evil = tmp / "evil.tar.gz"
    payload = tmp / "payload.txt"
    payload.write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(payload, arcname="../../etc/evil")
    return [REPO / "README.md", empty, garbage, evil, tmp / "does-not-exist.tar.gz"]


def test_ingest_on_a_local_cluster_stores_each_bundle_as_its_own_analysis_and_again_is_a_no_op(tmp_path):
    store = tmp_path / "store"
    good = [SAMPLE, PAIR / "before.tar.gz", PAIR / "after.tar.gz", *REAL]
    bad = hostile(tmp_path)
    summary = ingest([str(p) for p in good + bad], store, workers=2)
    assert (summary.analysed, summary.skipped, summary.failed) == (len(good), 0, len(bad)), summary.results
    for p in good:
        assert_stored_as_analysed(store, p, api.Options())
    bundles = st.scan(store, "bundles").collect()
    assert bundles.height == len(good) + len(bad)
    failed = bundles.filter(pl.col("status") == "failed")
    assert sorted(failed["path"].to_list()) == sorted(str(p) for p in bad)
    assert all(e and "\n" not in e for e in failed["error"].to_list())
    assert set(failed["exit_code"].to_list()) == {3}
    # partitioned by cluster: the two real clusters, the lab's, the sample's, and the failures
    assert len(set(bundles["cluster_key"].to_list())) == 5

    before = {p: p.read_bytes() for p in store.rglob("*.parquet")}
    again = ingest([str(p) for p in good + bad], store, workers=2)
    assert again.analysed == 0 and again.skipped == len(good) + len(bad) - 1  # the missing file fails again
    assert {p: p.read_bytes() for p in store.rglob("*.parquet")} == before  # nothing rewritten, no duplicate


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(tmp_path):
    from dask.distributed import Client, LocalCluster

    bundles = copies(tmp_path, SAMPLE, 10)
    store = tmp_path / "store"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    killed: list[int] = []

    def kill_one_when_the_batch_is_under_way() -> None:
        client = Client(cluster.scheduler_address)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not list((store / "bundles").glob("*/*.parquet")):
                time.sleep(0.1)
            pids = client.run(os.getpid)
            pid = sorted(pids.values())[0]
            os.kill(pid, signal.SIGKILL)  # the worker dies mid-task; its nanny starts another
            killed.append(pid)
        finally:
            client.close()

    killer = threading.Thread(target=kill_one_when_the_batch_is_under_way)
    killer.start()
    try:
        summary = ingest([str(b) for b in bundles], store, scheduler=cluster.scheduler_address)
    finally:
        killer.join()
        cluster.close()
    assert killed, "no worker was killed"
    assert summary.analysed + summary.skipped == len(bundles) and summary.failed == 0
    stored = st.scan(store, "bundles").collect()
    assert stored.height == len(bundles) and stored["bundle_id"].n_unique() == len(bundles)
    per_bundle = st.scan(store, "measures").group_by("bundle_id").len().collect()
    assert per_bundle.height == len(bundles) and per_bundle["len"].n_unique() == 1
    assert not list(store.rglob("*.tmp"))  # no half-written file is left where a reader looks


def test_a_half_written_file_of_a_killed_writer_is_removed_once_its_bundle_is_done(tmp_path):
    """A worker killed between ``write_bundle``'s temporary file and its rename leaves the file behind (CI
    once caught one); the ingest removes those of its own bundles once all their tasks have ended, and no
    other bundle's."""
    store = tmp_path / "store"
    mine, other = st.bundle_id("a" * 32), st.bundle_id("b" * 32)
    for bid in (mine, other):
        st.write_bundle(store, st.failed_rows(bid, bid[:32], f"/x/{bid}", "cannot be analysed"))
    partition = next((store / "bundles").iterdir())
    debris = [partition / f".{mine}.k1ll3d.tmp", store / "measures" / partition.name / f".{mine}.x.tmp"]
    kept = partition / f".{other}.in_flight.tmp"
    for f in (*debris, kept):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"PAR1 half")
    assert st.remove_debris(store, [mine]) == 2
    assert not any(f.exists() for f in debris) and kept.exists()
    assert st.scan(store, "bundles").collect().height == 2  # the stored rows are untouched


def test_ingest_without_dask_says_how_to_get_it_in_one_line(tmp_path):
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def no_dask(name, *a, **k):\n"
        "    if name.startswith(('dask', 'distributed')):\n"
        "        raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = no_dask\n"
        "from etcd_perf.analyze.cli import main\n"
        f"main(['ingest', {str(SAMPLE)!r}, '--store', {str(tmp_path / 's')!r}])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 3
    assert r.stderr == "etcd-perf: ingest needs Dask distributed: pip install 'etcd-perf[fleet]'\n"


def test_history_cli_and_the_store_read_by_polars_and_duckdb(tmp_path):
    store = tmp_path / "store"
    r = subprocess.run(
        [sys.executable, "-m", "etcd_perf", "ingest", str(PAIR / "before.tar.gz"), str(PAIR / "after.tar.gz"),
         "--store", str(store), "--workers", "2", "--duration", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("2 analysed, 0 skipped, 0 failed in ")
    out = tmp_path / "h"
    r = subprocess.run(
        [sys.executable, "-m", "etcd_perf", "history", "--store", str(store), "--output", str(out),
         "--export-html", "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    h = json.loads(r.stdout)
    assert h["schema"] == "etcd-perf/history/v1" and len(h["clusters"]) == 1
    c = h["clusters"][0]
    assert c["bundles"] == 2 and c["name"] == "etcd-lab"
    assert sorted(p.name for p in out.iterdir()) == ["history.html", "history.json", "history.md", "history.txt"]
    assert "<svg" in (out / "history.html").read_text()
    # the README's queries
    kpis = pl.scan_parquet(str(store / "kpis" / "**" / "*.parquet"), hive_partitioning=True)
    worst = kpis.filter(pl.col("kpi") == "wal_fsync_p99").group_by("member").agg(pl.col("value").max()).collect()
    assert worst.height == 3
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"select cluster, count(*) from read_parquet('{store}/bundles/**/*.parquet', hive_partitioning = true) "
        "group by cluster"
    ).fetchall()
    assert rows == [(c["cluster"], 2)]


def test_change_points_find_a_step_and_none_in_noise():
    import random

    rnd = random.Random(7)
    steady = [rnd.gauss(10, 1) for _ in range(30)]
    assert change_points(steady) == []
    stepped = [rnd.gauss(10, 1) for _ in range(15)] + [rnd.gauss(30, 3) for _ in range(15)]
    assert [c.index for c in change_points(stepped)] == [15]
    assert change_points([5.0] * 20) == []  # a flat series has nothing to split


# ------------------------------------------------------------------------------ the lab's series


@pytest.mark.lab
def test_a_lab_series_ingested_on_a_local_cluster_has_its_step_and_its_growth(fresh_lab_series, tmp_path):
    """Real etcd: 20 bundles of one cluster, a follower's disk throttled from the 14th on; a steady writer
    grows the DB at a known rate. Ground truth: that member's fsyncs over 1 s and its WAL fsync p99 step up
    where the throttle began, nobody's fsyncs over 1 s do anywhere else; the forecast growth is the growth
    the lab read itself. Latency p99s are not ground truth on a 2-core machine: the growing DB slows commits
    (a 4 -> 8 ms backend-commit step among the steady bundles is real), and noise moves any of them."""
    archives, truth = fresh_lab_series
    events = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
    throttled = next(e for e in events if e["event"] == "slow_disk_start")
    k, member = throttled["before_bundle"], throttled["member"]
    leader = next(e for e in events if e["event"] == "cluster_started")["leader"]
    options = api.Options(duration=str(SERIES_WINDOW_MIN))
    store = tmp_path / "all"
    bad = hostile(tmp_path)
    summary = ingest([str(a) for a in archives] + [str(b) for b in bad], store, options, workers=2)
    assert (summary.analysed, summary.failed) == (len(archives), len(bad)), summary.results
    for a in archives:
        assert_stored_as_analysed(store, a, options)

    h = history(store)
    (c,) = h["clusters"]
    assert c["bundles"] == len(archives)
    steps = [(s["member"], s["kpi"]) for s in c["steps"]]
    assert (member, "slow_fsyncs") in steps, c["steps"]
    at = next(s for s in c["steps"] if (s["member"], s["kpi"]) == (member, "slow_fsyncs"))
    index = [Path(a).name for a in archives]
    after = st.scan(store, "bundles").filter(pl.col("bundle_id") == at["bundle_after"]).collect()["path"][0]
    assert index.index(Path(after).name) in (k, k + 1) and at["verdict"] == "regressed"
    # its WAL fsync p99 steps up there too: each bundle's single scrape is read as what was observed since
    # the bundle before, so the step is where the throttle began, not smeared over the bundles after it
    p99 = next(s for s in c["steps"] if (s["member"], s["kpi"]) == (member, "wal_fsync_p99"))
    after = st.scan(store, "bundles").filter(pl.col("bundle_id") == p99["bundle_after"]).collect()["path"][0]
    assert index.index(Path(after).name) in (k, k + 1) and p99["verdict"] == "regressed", p99
    # no other member's fsyncs over 1 s ever step up (their disks are not throttled), and nobody's do among
    # the steady bundles
    slow = [s for s in c["steps"] if s["kpi"] == "slow_fsyncs"]
    assert {s["member"] for s in slow if s["verdict"] == "regressed"} == {member}, slow
    after_paths = dict(st.scan(store, "bundles").select("bundle_id", "path").collect().iter_rows())
    early = [s for s in slow if index.index(Path(after_paths[s["bundle_after"]]).name) < k]
    assert early == [], (index[k], early)

    steady = tmp_path / "steady"
    ingest([str(a) for a in archives[:k]], steady, options, workers=2)
    (s,) = history(steady)["clusters"]
    assert [x for x in s["steps"] if x["kpi"] == "slow_fsyncs"] == [], s["steps"]

    # capacity: the leader's DB grows at the rate the lab itself read, and the forecast says when it fills
    collected = [e for e in events if e["event"] == "bundle_collected" and e["leader_db_size"]]
    first, last = collected[0], collected[-1]
    span_days = (_t(last["ts"]) - _t(first["ts"])) / 86_400
    lab_rate = (last["leader_db_size"] - first["leader_db_size"]) / span_days
    cap = next(r for r in c["capacity"] if r["member"] == leader)
    assert 0.8 * lab_rate <= cap["db_size_growth_bytes_per_day"] <= 1.25 * lab_rate, (cap, lab_rate)
    written = (last["written_bytes"] - first["written_bytes"]) / span_days
    assert written <= cap["db_size_growth_bytes_per_day"] <= 4 * written  # the payload, plus bbolt's overhead
    assert cap["days_to_quota"] > 0 and cap["quota_reached_at"] > cap["last"]


SERIES_WINDOW_MIN = 0.2  # each bundle's window: the seconds since the one before


def _t(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------------------ properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(
    hst.lists(hst.floats(-1e3, 1e3, allow_nan=False), min_size=6, max_size=30),
    hst.floats(0.01, 100),
    hst.floats(-1e3, 1e3),
)
def test_change_points_do_not_depend_on_units_or_offset(values, scale, offset):
    """The energy statistic is of distances: the same series in other units (ms or s, shifted) splits alike."""

    def rounded(xs):
        return [round(x, 6) for x in xs]

    a = [c.index for c in change_points(rounded(values))]
    b = [c.index for c in change_points(rounded([v * scale + offset for v in values]))]
    assert a == b or len(set(rounded(values))) < len(values)  # ties may order differently after rounding
