"""Real bundles from a real 3-member etcd with injected faults, judged against the lab's ground truth.

bundles/sample is etcd 3.5.16, tests/data/lab-3.4.23 is etcd 3.4.23; both were harvested by the lab
in ../shared/lab with every fault's time and member recorded in ground_truth.jsonl.
"""

import json

import pytest

from analyze.model import build_analysis
from analyze.rules import default_rules
from analyze.window import bundle_window
from gather.archive import open_bundle
from gather.bundle import load_bundle
from tests.factory import LAB_34, SAMPLE

LABS = [pytest.param(SAMPLE, id="etcd-3.5.16-sample"), pytest.param(LAB_34, id="etcd-3.4.23")]


def analyse(path, duration="all"):
    with open_bundle(path) as opened:
        bundle = load_bundle(opened, path.name)
    return build_analysis(bundle, bundle_window(bundle, duration), default_rules())


def ground_truth(path):
    return [json.loads(line) for line in (path / "ground_truth.jsonl").read_text().splitlines()]


def observed_leaders(truth):
    """Distinct consecutive leaders the lab observed: each change is one election."""
    seq = []
    for e in truth:
        if e["event"] == "leader_observed" and (not seq or seq[-1] != e["member"]):
            seq.append(e["member"])
    return seq


@pytest.mark.parametrize("path", LABS)
def test_slow_disk_members_are_flagged_on_disk_and_the_healthy_one_is_not(path):
    truth = ground_truth(path)
    throttled = {e["member"] for e in truth if e["event"] == "slow_disk_start"}
    a = analyse(path)
    disk = {f["member"] for f in a["findings"] if f["subsystem"] == "disk"}
    assert disk == throttled
    assert all(f["severity"] == "critical" for f in a["findings"] if f["subsystem"] == "disk")
    healthy = {m["name"] for m in a["members"]} - throttled
    assert healthy and not (healthy & disk)


@pytest.mark.parametrize("path", LABS)
def test_every_election_is_counted_once(path):
    a = analyse(path)
    terms = [e["term"] for e in a["cluster"]["elections"]]
    assert len(terms) == len(set(terms))
    leaders = [e["leader"] for e in a["cluster"]["elections"]]
    assert leaders == observed_leaders(ground_truth(path))
    assert a["cluster"]["leader_changes"] == len(leaders)


@pytest.mark.parametrize("path", LABS)
def test_restart_and_nospace_alarm_are_reported(path):
    truth = ground_truth(path)
    killed = {e["member"] for e in truth if e["event"] == "member_sigkill"}
    a = analyse(path)
    restarts = {m["name"]: m["restarts"] for m in a["members"]}
    assert {n for n, r in restarts.items() if r} == killed
    assert {f["member"] for f in a["findings"] if f["id"] == "restarts"} == killed
    alarm = next(f for f in a["findings"] if f["id"] == "alarm_active")
    assert alarm["severity"] == "critical" and "NOSPACE" in alarm["message"]
    assert a["status"] == "CRITICAL" and a["exit_code"] == 2


def test_sample_verdict_is_pinned():
    a = analyse(SAMPLE, duration="15")
    assert (a["status"], a["window"]["minutes"]) == ("CRITICAL", 15.0)
    assert a["bundle"]["collected_at"] == "2026-11-26T10:46:11.522044Z"
    assert a["summary"]["headline"].startswith("Master-0: 3 WAL fsync(s) over 1 s logged")
    fs = {m["name"]: m["wal_fsync"]["slow_count"] for m in a["members"]}
    assert fs == {"master-0": 3, "master-1": 8, "master-2": 0}
    hb = {m["name"]: m["heartbeat_failures"] for m in a["members"]}
    assert hb == {"master-0": 50, "master-1": 0, "master-2": 8}  # the stalled leaders, not the followers
    kpi = {(k["id"], k["member"]): k["status"] for k in a["kpis"]}
    assert kpi[("backend_commit_p99", "master-0")] == "not_measured"
    assert kpi[("peer_rtt_p99", "master-2")] == "not_measured"
    assert kpi[("leader_changes", None)] == "pass"


def test_evidence_points_at_real_lines():
    a = analyse(SAMPLE)
    f = next(f for f in a["findings"] if f["id"] == "wal_fsync_logged" and f["member"] == "master-1")
    assert f["evidence"], "a finding without evidence is an opinion"
    for ev in f["evidence"]:
        line = (SAMPLE / ev["file"]).read_text().splitlines()[ev["line"] - 1]
        assert ev["excerpt"] in line and "slow fdatasync" in line
