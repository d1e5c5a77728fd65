"""Two real `oc adm must-gather` archives of OpenShift CI clusters (tests/data/real, byte for byte, with the
note of what is true of them, read off the bundles themselves): the verdict must be right on the bundles
users actually have. Every cluster rolls etcd out (static-pod revisions) on install, upgrade, certificate
rotation and configuration change; these two did during collection, and nothing else went wrong.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from etcd_perf.analyze.model import build_analysis
from etcd_perf.analyze.rules import default_rules
from etcd_perf.analyze.window import bundle_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from etcd_perf.gather.layout import may_hold_etcd_data
from tests.factory import REPO

REAL = REPO / "tests" / "data" / "real"
AWS = REAL / "must-gather-aws.tar.xz"
METAL = REAL / "must-gather-metal.tar.xz"
AWS_NODES = {
    "ip-10-0-187-218.ec2.internal": "5a492cc498c39e02",
    "ip-10-0-189-142.ec2.internal": "30c29f1b390a6a04",
    "ip-10-0-195-177.ec2.internal": "bb9c7099bd31ffff",
}
METAL_DOMAIN = "ci-ln-xj8t7ct-86010.origin-ci-int-aws.dev.rhcloud.com"
METAL_NODES = {
    f"master-0.{METAL_DOMAIN}": "c744a5a5f5c2e15a",
    f"master-1.{METAL_DOMAIN}": "66864aaacebdea67",
    f"master-2.{METAL_DOMAIN}": "c6cd3509205e1497",
}
NOT_ETCD_TROUBLE = {"leader_stall", "network", "peer_unreachable"}


def _analyse(path: Path) -> dict:
    with open_bundle(path) as opened:
        bundle = load_bundle(opened, path.name)
    return build_analysis(bundle, bundle_window(bundle, "all"), default_rules())


@pytest.fixture(scope="module")
def aws() -> dict:
    return _analyse(AWS)


@pytest.fixture(scope="module")
def metal() -> dict:
    return _analyse(METAL)


def _members(a: dict) -> dict[str, dict]:
    return {m["name"]: m for m in a["members"]}


@pytest.mark.parametrize(("name", "nodes", "version"), [("aws", AWS_NODES, "3.4.14"), ("metal", METAL_NODES, "3.5.0")])
def test_members_ids_and_versions_are_read_off_the_bundle(request, name, nodes, version):
    a = request.getfixturevalue(name)
    members = _members(a)
    assert {n: m["id"] for n, m in members.items()} == nodes
    assert {m["version"] for m in members.values()} == {version}
    for m in members.values():  # uint64 IDs, above 2^63 too, never through a float
        assert int(m["id_decimal"]) == int(m["id"], 16)
    assert max(int(m["id_decimal"]) for m in members.values()) > 2**63  # bb9c…ffff, c744…e15a
    # installer, revision-pruner and quorum-guard pods are not members
    assert all(p.rsplit("/", 1)[-1].startswith("etcd-") for p in a["bundle"]["pods"])
    assert a["consistency"]["consistent"], a["consistency"]["problems"]
    assert not [f for f in a["findings"] if f["id"] == "membership_inconsistent"]


@pytest.mark.parametrize(("name", "sockets"), [("aws", 3), ("metal", 0)])
def test_the_unix_socket_endpoints_are_noted_never_a_members_health(request, name, sockets):
    """AWS's endpoint_health.json lists etcd's unixs://<ip>:0 listeners, failing; metal's does not."""
    a = request.getfixturevalue(name)
    assert len(a["consistency"]["local_socket_endpoints"]) == sockets
    assert all(e.startswith("unixs://") for e in a["consistency"]["local_socket_endpoints"])
    assert a["consistency"]["health_errors"] == []
    assert all(m["health"]["healthy"] for m in a["members"])
    assert not [f for f in a["findings"] if f["id"] == "member_unhealthy"]


def test_aws_slow_counts_and_status(aws):
    members = _members(aws)
    assert {n: m["slow_apply"]["count"] for n, m in members.items()} == {
        "ip-10-0-187-218.ec2.internal": 0,
        "ip-10-0-189-142.ec2.internal": 0,
        "ip-10-0-195-177.ec2.internal": 590,
    }
    assert {m["wal_fsync"]["slow_count"] for m in members.values()} == {0}
    assert {round(m["fragmentation_pct"]) for m in members.values()} == {45}
    # they fell while the rollout had 187-218 down (09:25:59-09:27:01): the finding says so
    applies = next(f for f in aws["findings"] if f["id"] == "slow_applies")
    assert applies["severity"] == "info"
    assert (
        "588 of them while the platform had ip-10-0-187-218.ec2.internal stopped (the revision 3 rollout)"
        in (applies["message"])
    )
    assert aws["status"] == "WARNING" and aws["summary"]["critical"] == 0
    assert {f["id"] for f in aws["findings"] if f["severity"] == "warning"} == {"fragmentation"}


def test_metal_is_healthy(metal):
    members = _members(metal)
    assert {m["slow_apply"]["count"] for m in members.values()} == {0}
    assert {m["wal_fsync"]["slow_count"] for m in members.values()} == {0}
    assert {round(m["fragmentation_pct"]) for m in members.values()} == {21}
    assert (metal["status"], metal["exit_code"]) == ("HEALTHY", 0)
    assert not [f for f in metal["findings"] if f["severity"] != "info"]


@pytest.mark.parametrize(
    ("name", "elections"),
    [
        (
            "aws",
            [
                (7, "ip-10-0-189-142.ec2.internal", None, None),
                (
                    8,
                    "ip-10-0-195-177.ec2.internal",
                    "ip-10-0-189-142.ec2.internal",
                    "installer-3-ip-10-0-189-142.ec2.internal",
                ),
            ],
        ),
        (
            "metal",
            [
                (4, f"master-1.{METAL_DOMAIN}", None, None),
                (5, f"master-2.{METAL_DOMAIN}", f"master-1.{METAL_DOMAIN}", f"installer-3-master-1.{METAL_DOMAIN}"),
            ],
        ),
    ],
)
def test_each_election_and_its_cause(request, name, elections):
    """The first election in the logs has its cause before them; the second followed the revision 3
    installer on the old leader's node, within a second: the rollout, planned work, not a frozen leader."""
    a = request.getfixturevalue(name)
    got = a["cluster"]["elections"]
    assert [(e["term"], e["leader"], e["previous_leader"]) for e in got] == [x[:3] for x in elections]
    for e, (_, _, old, installer) in zip(got, elections, strict=True):
        if old is None:
            assert e["cause"] is None
            continue
        cause = e["cause"]
        assert (cause["cause"], cause["cause_member"], cause["revision"], cause["installer"]) == (
            "rollout",
            old,
            3,
            installer,
        )
        assert cause["planned"] is True
        assert "late" not in cause["explanation"] and "frozen" not in cause["explanation"]
        # the installer pod and the operator's and kubelet's events are the evidence
        texts = [ev["excerpt"] for ev in cause["evidence"]]
        assert any(installer in t and '"exitCode": 0' in t for t in texts)
        assert any(t.startswith("StaticPodInstallerCompleted") for t in texts)
        assert all(ev["file"].endswith((".yaml",)) and ev["line"] for ev in cause["evidence"])
    assert a["cluster"]["leader_changes"] == 2 and a["cluster"]["leader_changes_planned"] == 1
    kpi = next(k for k in a["kpis"] if k["id"] == "leader_changes")
    assert kpi["value"] == 1  # the unplanned one: its cause predates the logs


@pytest.mark.parametrize("name", ["aws", "metal"])
def test_no_stall_no_network_no_restart_is_blamed(request, name):
    """The peers' lost streams and failed probes point at members the rollout was restarting."""
    a = request.getfixturevalue(name)
    assert not [h for h in a["diagnosis"]["hypotheses"] if h["cause"] in NOT_ETCD_TROUBLE]
    assert not [f for f in a["findings"] if f["id"] in ("network_trouble", "restarts", "heartbeat_failures")]
    for m in a["members"]:
        assert m["restarts"] == 0
        assert [r["cause"] for r in m["restarts_planned"]] == ["rollout"]
        assert "revision 3" in m["restarts_planned"][0]["by"]
    assert sum(m["network_events_planned"] for m in a["members"]) > 0
    assert "rolled out revision 3 on 3 member(s)" in a["summary"]["platform"]


@pytest.mark.parametrize(
    ("name", "stops"),
    [
        (
            "aws",
            {
                "ip-10-0-195-177.ec2.internal": "09:23:38",
                "ip-10-0-187-218.ec2.internal": "09:25:59",
                "ip-10-0-189-142.ec2.internal": "09:27:16",
            },
        ),
        (
            "metal",
            {
                f"master-2.{METAL_DOMAIN}": "14:24:41",
                f"master-0.{METAL_DOMAIN}": "14:25:57",
                f"master-1.{METAL_DOMAIN}": "14:27:09",
            },
        ),
    ],
)
def test_the_revision_3_rollout_is_read_node_by_node(request, name, stops):
    a = request.getfixturevalue(name)
    rev3 = [r for r in a["rollouts"] if r["revision"] == 3]
    assert [r["member"] for r in rev3] == list(stops)  # oldest first, one node at a time
    for r in rev3:
        assert r["stopped"][11:19] == stops[r["member"]]
        assert r["trigger"] == "configmap/etcd-pod has changed"
        assert r["installer"] == f"installer-3-{r['node']}" and r["installer_exit_code"] == 0
        assert r["started"] < r["stopped"] < r["finished"]


@pytest.mark.parametrize("name", ["aws", "metal"])
def test_the_container_preamble_is_recognised_and_gives_the_tuning(request, name):
    a = request.getfixturevalue(name)
    assert a["data_quality"]["unparsed_lines"] == 0
    for f in a["logs"]["files"]:
        if f["lines"]:
            assert f["formats"]["shell"] >= 40 and "other" not in f["formats"]  # 46 (aws), 47 (metal)
    for m in a["members"]:
        assert m["tuning"]["heartbeat_interval_ms"] == "100"
        assert m["tuning"]["election_timeout_ms"] == "1000"
        assert m["tuning"]["static_pod_version"] == "3"


DECLARED = re.compile(
    r"ip-10-0-\d|ip_10_0_\d|ec2\.internal|ec2_internal|ci-ln-xj8t7ct|rhcloud|10\.0\.\d+\.\d+|147\.75\.\d+",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", [AWS, METAL], ids=["aws", "metal"])
def test_redact_leaves_no_declared_name_in_any_output_in_any_case(path, tmp_path):
    """Every output of --redact (stdout in every format, every report file, the HTML) is searched for the
    bundle's host names, domains and addresses, case-insensitively."""
    out = tmp_path / "out"
    texts = []
    for fmt in ("text", "json", "markdown"):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "etcd_perf.analyze.cli",
                "analyze",
                str(path),
                "--duration",
                "all",
                "--redact",
                "--export-html",
                "--format",
                fmt,
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert r.returncode in (0, 1), r.stderr
        texts += [r.stdout, r.stderr]
    texts += [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()]
    assert len(texts) > 10
    leaks = sorted({m.group(0) for t in texts for m in DECLARED.finditer(t)})
    assert leaks == []


def _without_platform_records(archive: Path, dest: Path) -> Path:
    """The etcd part of a real must-gather as an older collection would have it: no events, no installer pods."""
    with tarfile.open(archive) as tf:
        keep = [
            m
            for m in tf
            if m.isfile()
            and may_hold_etcd_data(m.name)
            and not m.name.endswith(("events.yaml", "core/pods.yaml"))
            and "/installer-" not in m.name
        ]
        tf.extractall(dest, members=keep, filter="data")
    return dest


def test_without_rollout_records_the_silent_old_leader_restarted_it_did_not_freeze(tmp_path):
    """The old leader of term 8 has no log of that time: its new log begins 40 s after the election. It
    was not running, so it cannot have "learned of the election late"; a log that begins with etcd
    restarting on its data dir, with no earlier log in the bundle, is a restart whose predecessor's log
    is absent, counted and said so."""
    a = _analyse(_without_platform_records(AWS, tmp_path / "aws"))
    assert a["rollouts"] == []
    term8 = next(e for e in a["cluster"]["elections"] if e["term"] == 8)
    cause = term8["cause"]
    assert (cause["cause"], cause["cause_member"]) == ("restart", "ip-10-0-189-142.ec2.internal")
    assert "was not running at the election" in cause["explanation"]
    assert "late" not in cause["explanation"] and "frozen" not in cause["explanation"]
    assert not [h for h in a["diagnosis"]["hypotheses"] if h["cause"] == "leader_stall"]
    for m in a["members"]:
        assert m["restarts"] == 1 and m["restart_without_previous_log"] is not None
    said = [f["message"] for f in a["findings"] if f["id"] == "restarts"]
    assert len(said) == 3 and all("the log before is not in the bundle" in s for s in said)


NODE_EVENTS = """apiVersion: v1
items:
- apiVersion: v1
  count: 1
  firstTimestamp: "{down}"
  involvedObject: {{kind: Node, name: {node}, uid: {node}}}
  kind: Event
  lastTimestamp: "{down}"
  message: "Node {node} status is now: NodeNotReady"
  metadata: {{name: {node}.1697c1b2df52c5d4, namespace: default}}
  reason: NodeNotReady
  source: {{component: node-controller}}
  type: Normal
- apiVersion: v1
  count: 1
  firstTimestamp: "{up}"
  involvedObject: {{kind: Node, name: {node}, uid: {node}}}
  kind: Event
  lastTimestamp: "{up}"
  message: Starting kubelet.
  metadata: {{name: {node}.1697c1b2df52c5d5, namespace: default}}
  reason: Starting
  source: {{component: kubelet, host: {node}}}
  type: Normal
kind: List
"""


def test_a_node_reboot_that_stopped_the_leader_is_planned_like_a_rollout(tmp_path):
    """The same bundle without its rollout records, but with the old leader's node going NotReady the
    second before the election and its kubelet starting again (the events' shapes as in the real
    must-gathers' default namespace): the election is the reboot's, and so is the member's restart."""
    root = _without_platform_records(AWS, tmp_path / "aws")
    (image,) = (root / "must-gather-aws").glob("quay-io-*")
    events = image / "namespaces" / "default" / "core" / "events.yaml"
    events.parent.mkdir(parents=True)
    node = "ip-10-0-189-142.ec2.internal"
    events.write_text(NODE_EVENTS.format(node=node, down="2021-08-03T09:27:16Z", up="2021-08-03T09:27:50Z"))
    a = _analyse(root)
    cause = next(e for e in a["cluster"]["elections"] if e["term"] == 8)["cause"]
    assert (cause["cause"], cause["cause_member"], cause["planned"]) == ("reboot", node, True)
    assert any(ev["excerpt"].startswith("NodeNotReady") for ev in cause["evidence"])
    member = next(m for m in a["members"] if m["name"] == node)
    assert [r["cause"] for r in member["restarts_planned"]] == ["reboot"] and member["restarts"] == 0
    assert [(o["member"], o["cause"]) for o in a["outages"]] == [(node, "reboot")]


def test_a_log_that_merely_begins_after_the_election_gives_no_verdict(tmp_path):
    """The old leader's log cut at its start (the start-up lines rotated away): it does not cover the
    election and does not show etcd starting, so nothing is said of the process then: no stall, no restart."""
    root = _without_platform_records(AWS, tmp_path / "aws")
    (log,) = root.rglob("etcd-ip-10-0-189-142.ec2.internal/etcd/etcd/logs/current.log")
    lines = log.read_text().splitlines(keepends=True)
    started = next(i for i, line in enumerate(lines) if '"msg":"starting etcd server"' in line)
    log.write_text("".join(lines[started + 1 :]))
    a = _analyse(root)
    cause = next(e for e in a["cluster"]["elections"] if e["term"] == 8)["cause"]
    assert cause["cause"] == "unknown" and "do not cover the election" in cause["explanation"]
    assert "not with etcd starting" in cause["explanation"]
    assert not [h for h in a["diagnosis"]["hypotheses"] if h["cause"] == "leader_stall"]


def test_a_member_missing_from_endpoint_status_is_not_excused_by_the_unix_socket_failing(tmp_path):
    """A member that answered no endpoint status is an inconsistency unless its own endpoint failed its
    check; the unixs:// listener fails the check on every real cluster and excuses nobody."""
    import json

    root = _without_platform_records(AWS, tmp_path / "aws")
    (status,) = root.rglob("etcd_info/endpoint_status.json")
    entries = json.loads(status.read_text())
    status.write_text(json.dumps([e for e in entries if "10.0.189.142" not in e["Endpoint"]]))
    a = _analyse(root)
    assert a["consistency"]["missing_from_endpoint_status"] == ["ip-10-0-189-142.ec2.internal"]
    assert "membership_inconsistent" in {f["id"] for f in a["findings"]}
