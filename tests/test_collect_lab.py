"""scripts/collect.sh run unchanged against a real etcd cluster through the lab's `oc` shim.

Needs Debian's etcd-server and etcd-client (installed by .ci/run); skipped with the reason when absent.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from etcd_perf.analyze import api
from tests.factory import REPO

LAB = REPO / "scripts" / "lab"
sys.path.insert(0, str(LAB))
import scenario  # noqa: E402

ETCD = os.environ.get("LAB_ETCD") or shutil.which("etcd")
ETCDCTL = os.environ.get("LAB_ETCDCTL") or shutil.which("etcdctl")
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not (ETCD and ETCDCTL), reason="needs etcd and etcdctl (Debian: etcd-server etcd-client)"),
]


def lab_cmd(*args):
    subprocess.run(
        [sys.executable, str(LAB / "etcdlab.py"), *map(str, args)], check=True, capture_output=True, timeout=60
    )


@pytest.fixture
def lab(tmp_path):
    d = tmp_path / "lab"
    lab_cmd("start", d, "--etcd", ETCD, "--etcdctl", ETCDCTL)
    yield d
    lab_cmd("stop", d)


def collect(lab_dir, out, **env_extra):
    archive = scenario.collect(lab_dir, out, **env_extra)
    assert [archive] == list(out.glob("etcd-bundle-etcd-lab-*.tar.gz"))
    return archive


def manifest(archive):
    with tarfile.open(archive) as tf:
        name = next(n for n in tf.getnames() if n.endswith("/bundle.json"))
        return json.load(tf.extractfile(name))


def analyse(archive):
    """The bundle and its analysis, as ``etcd-perf analyze`` makes it (the library's door: the metric
    families the analysis reads, the others skipped by name)."""
    result = api.analyze_bundle(archive, api.Options(duration="all"))
    return result.bundle, result.data


def test_happy_path_bundle_is_complete_and_healthy(lab, tmp_path):
    archive = collect(lab, tmp_path)
    m = manifest(archive)
    assert m["format"] == "etcd-perf-bundle" and m["collected_at"].endswith("Z")
    assert m["collection_started_at"] <= m["collected_at"]
    assert m["versions"]["cluster"] == "etcd-perf-lab" and m["versions"]["oc"]
    assert len(m["versions"]["etcd"]) == 3 and all(v.startswith("3.") for v in m["versions"]["etcd"].values())
    failed = [c for c in m["commands"] if c["exit_status"] != 0]
    # previous logs do not exist for pods that never restarted: that failure is expected and recorded
    assert all("--previous" in c["command"] for c in failed)
    b, a = analyse(archive)
    assert b.collected_at_source == "manifest" and b.format == "collect bundle"
    assert [x["name"] for x in a["members"]] == ["master-0", "master-1", "master-2"]
    assert all(x["id"] and x["db_size_bytes"] and x["health"]["healthy"] for x in a["members"])
    assert sum(1 for x in a["members"] if x["is_leader"]) == 1
    # a fresh cluster is healthy; start-up (peers connecting, first WAL segment, a busy CI machine) may
    # leave warnings in the logs and in the since-start metrics, never anything critical
    assert a["exit_code"] in (0, 1)
    assert [f for f in a["findings"] if f["severity"] == "critical"] == []
    assert len(a["cluster"]["elections"]) == 1  # the bootstrap election, once
    # no Prometheus in this lab: collect.sh fell back to one /metrics scrape per member
    assert sorted(f["file"].rsplit("/", 1)[1] for f in a["metrics"]["files"]) == [
        "etcd-master-0.prom",
        "etcd-master-1.prom",
        "etcd-master-2.prom",
    ]
    # every member's disk histograms read from its scrape (a scrape heads each family with
    # HELP and TYPE comments: reading by family once lost the families between two comments)
    kpi = {(k["id"], k["member"]): k for k in a["kpis"]}
    for member in ("master-0", "master-1", "master-2"):
        for k in ("wal_fsync_p99", "backend_commit_p99"):
            assert kpi[(k, member)]["source"] == "metrics (single scrape: since member start)", kpi[(k, member)]
            assert kpi[(k, member)]["value"] is not None


def test_one_failing_command_gives_a_partial_bundle_and_a_reported_failure(lab, tmp_path):
    archive = collect(lab, tmp_path, OC_SHIM_FAIL="alarm list")
    failed = [c for c in manifest(archive)["commands"] if c["exit_status"] != 0 and "--previous" not in c["command"]]
    assert len(failed) == 1 and "injected failure" in failed[0]["stderr"]
    b, a = analyse(archive)
    assert b.info.files["alarm_list.json"] == "empty"
    assert any("collect step failed" in p and "alarm list" in p for p in a["data_quality"]["problems"])
    assert len(a["members"]) == 3 and a["exit_code"] in (0, 1)


def test_one_member_down_gives_a_partial_bundle_naming_that_member(lab, tmp_path):
    lab_cmd("kill", lab, "master-2")
    archive = collect(lab, tmp_path)
    _, a = analyse(archive)
    down = next(x for x in a["members"] if x["name"] == "master-2")
    assert down["health"] is not None and down["health"]["healthy"] is False
    assert any(f["id"] == "member_unhealthy" and f["member"] == "master-2" for f in a["findings"])
    assert any("endpoint status" in p for p in a["data_quality"]["problems"])  # etcdctl's failure is recorded
    assert a["exit_code"] == 2


def test_restarted_member_is_reported_from_its_previous_log(lab, tmp_path):
    lab_cmd("restart", lab, "master-1")
    _, a = analyse(collect(lab, tmp_path))
    restarts = {x["name"]: x["restarts"] for x in a["members"]}
    assert restarts == {"master-0": 0, "master-1": 1, "master-2": 0}
    assert [f["member"] for f in a["findings"] if f["id"] == "restarts"] == ["master-1"]
