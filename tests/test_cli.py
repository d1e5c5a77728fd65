"""The command line as a support engineer and a CI job use it: exit codes, outputs, determinism."""

import importlib.metadata
import json
import re
import subprocess
import sys

import pytest

from etcd_perf.analyze.model import TOOL_VERSION
from tests import real_lines as R
from tests.factory import SAMPLE, make_must_gather


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "etcd_perf", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_no_bundle_analyses_the_embedded_sample(tmp_path):
    r = run("analyze", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stdout.startswith("etcd-perf: CRITICAL")
    out = next((tmp_path / ".work" / "etcd-analysis").iterdir())
    assert out.name == "sample-20261126T114712Z"  # id from the bundle, not the clock
    names = {p.name for p in out.iterdir()}
    assert {
        "executive_performance_report.txt",
        "analysis.json",
        "cluster_topology.json",
        "db_status_summary.txt",
        "disk_metrics.txt",
    } <= names


def test_report_has_the_seed_sections_and_a_member_table(tmp_path):
    run("analyze", SAMPLE, "--output", tmp_path / "o")
    text = (tmp_path / "o" / "executive_performance_report.txt").read_text()
    for section in (
        "EXECUTIVE SUMMARY",
        "Overall Status: CRITICAL",
        "KEY PERFORMANCE INDICATORS",
        "MEMBERS",
        "ELECTIONS",
        "RECOMMENDATIONS",
        "IMMEDIATE ACTION REQUIRED",
        "MONITORING RECOMMENDATIONS",
        "OPTIMIZATION OPPORTUNITIES",
        "NEXT STEPS",
        "DETAILED DATA",
        "NOT MEASURED",
    ):
        assert section in text
    assert re.search(r"master-0  [0-9a-f]{12,16}  no ", text)


def test_json_output_has_the_stable_keys(tmp_path):
    r = run("analyze", SAMPLE, "--format", "json", "--output", tmp_path / "o")
    a = json.loads(r.stdout)
    assert a["schema"] == "etcd-perf/analysis/v1" and a["exit_code"] == r.returncode == 2
    assert set(a["bundle"]) >= {"path", "format", "collected_at"}
    assert set(a["window"]) >= {"start", "end", "minutes"}
    m = a["members"][0]
    assert set(m) >= {
        "name",
        "id",
        "is_leader",
        "version",
        "db_size_bytes",
        "db_in_use_bytes",
        "fragmentation_pct",
        "raft_term",
        "raft_index",
        "restarts",
        "wal_fsync",
        "slow_apply",
    }
    assert set(m["wal_fsync"]) >= {"slow_count", "p50_ms", "p99_ms", "max_ms", "source"}
    assert set(m["slow_apply"]) >= {"count", "p99_ms", "max_ms"}
    assert set(a["cluster"]) >= {"member_count", "leader_changes", "leader_changes_planned", "elections", "alarms"}
    # what the platform did (static-pod rollouts, node reboots): lists, empty on a bundle without any
    assert (a["rollouts"], a["outages"], a["platform_events"]) == ([], [], [])
    assert set(m) >= {"restarts_planned", "restart_without_previous_log", "network_events_planned", "tuning"}
    assert set(a["cluster"]["elections"][0]) >= {"term", "leader", "ts"}
    assert set(a["kpis"][0]) >= {"id", "name", "member", "value", "unit", "threshold", "status", "source"}
    f = a["findings"][0]
    assert set(f) >= {
        "id",
        "severity",
        "subsystem",
        "member",
        "value",
        "threshold",
        "message",
        "recommendation",
        "evidence",
    }
    assert set(f["evidence"][0]) == {"file", "line", "ts", "excerpt"}
    assert json.loads((tmp_path / "o" / "analysis.json").read_text()) == a


def test_two_runs_give_identical_bytes(tmp_path):
    for name in ("a", "b"):
        run("analyze", SAMPLE, "--export-html", "--output", tmp_path / name)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "performance_report.html" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_exit_codes_healthy_and_warning(tmp_path):
    healthy = make_must_gather(tmp_path / "h", {"m0": {"current": [R.ZAP34_ELECTION]}})
    r = run("analyze", healthy, "--duration", "all", "--output", tmp_path / "o1")
    assert r.returncode == 0, r.stdout + r.stderr
    warn = make_must_gather(tmp_path / "w", {"m0": {"current": [R.ZAP34_HEARTBEAT]}})
    r = run("analyze", warn, "--duration", "all", "--output", tmp_path / "o2")
    assert r.returncode == 1, r.stdout + r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "/nonexistent/bundle.tar.gz"],
        ["analyze", "--no-such-option"],
        ["analyze", str(SAMPLE), "--format", "yaml"],
        ["analyze", str(SAMPLE), "--duration", "soon"],
        ["analyze", str(SAMPLE), "--since", "yesterday"],
        ["no-such-command"],
        [],
    ],
)
def test_unusable_input_or_bad_options_exit_3_with_one_line_and_no_traceback(args, tmp_path):
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    assert "internal error" not in r.stderr, r.stderr  # a user's mistake is not our bug
    if args:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_empty_directory_is_not_analysable(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run("analyze", tmp_path / "empty", cwd=tmp_path)
    assert r.returncode == 3 and "no etcd data found" in r.stderr


def test_thresholds_override_from_yaml(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text(
        "wal_fsync_logged: {warning: 100}\nalarm_active: {enabled: false}\n"
        "db_quota_used: {enabled: false}\nmember_unhealthy: {enabled: false}\npeer_rtt_p99: {critical: 1000}\n"
        "backend_commit_worst_minute: {critical: 10000}\n"
    )
    r = run("analyze", SAMPLE, "--thresholds", t, "--format", "json", "--output", tmp_path / "o")
    a = json.loads(r.stdout)
    assert not [f for f in a["findings"] if f["id"] in ("wal_fsync_logged", "alarm_active")]
    assert a["status"] == "WARNING" and r.returncode == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_rule: {warning: 1}\n")
    r = run("analyze", SAMPLE, "--thresholds", bad, "--output", tmp_path / "o2")
    assert r.returncode == 3 and "unknown rule id" in r.stderr


def test_html_is_self_contained_and_escapes_bundle_text(tmp_path):
    hostile = R.ZAP34_APPLY.replace("/registry/namespaces/default", "<script>alert(1)</script>[x](http://evil)")
    b = make_must_gather(tmp_path / "b", {"m0": {"current": [hostile] * 3 + [R.ZAP34_HEARTBEAT]}})
    run("analyze", b, "--duration", "all", "--export-html", "--output", tmp_path / "o")
    html = (tmp_path / "o" / "performance_report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html
    for ref in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert ref not in html.replace("http://evil", ""), ref
    md = (tmp_path / "o" / "performance_report.md").read_text()
    assert "alert(1)" in md
    # bundle text is only inside code spans, which CommonMark renders as literal text
    outside_code = re.sub(r"`` .*? ``", "", md)
    assert "<script>" not in outside_code and "](http" not in outside_code


def test_verbose_prints_parse_statistics_on_stderr(tmp_path):
    r = run("analyze", SAMPLE, "--verbose", "--output", tmp_path / "o")
    assert "parse statistics" in r.stderr and "current.log: " in r.stderr and "wal_fsync_slow=" in r.stderr
    assert "time: open" in r.stderr
    assert "parse statistics" not in r.stdout


def test_pod_yaml_tuning_and_restart_count_are_read(tmp_path):
    b = make_must_gather(tmp_path / "b", {"m0": {"current": [R.ZAP34_APPLY]}}, wrapper=False)
    pod_dir = b / "namespaces" / "openshift-etcd" / "pods" / "etcd-m0"
    (pod_dir / "etcd-m0.yaml").write_text(
        """apiVersion: v1
kind: Pod
metadata: {name: etcd-m0, namespace: openshift-etcd}
spec:
  nodeName: m0
  containers:
  - name: etcd
    env:
    - {name: ETCD_HEARTBEAT_INTERVAL, value: '100'}
    - {name: ETCD_ELECTION_TIMEOUT, value: '1000'}
    - {name: ETCD_QUOTA_BACKEND_BYTES, value: '8589934592'}
status:
  containerStatuses:
  - name: etcd
    restartCount: 4
"""
    )
    r = run("analyze", b, "--duration", "all", "--format", "json", "--output", tmp_path / "o")
    m = json.loads(r.stdout)["members"][0]
    assert m["tuning"] == {
        "heartbeat_interval_ms": "100",
        "election_timeout_ms": "1000",
        "quota_backend_bytes": "8589934592",
    }
    assert m["restarts"] == 4 and m["db_quota_bytes"] == 8589934592  # quota from the pod env
    assert m["db_size_bytes"] is None  # no endpoint status: the DB size is unknown, not zero


def test_fragmentation_of_a_tiny_db_is_not_judged(tmp_path):
    # a fresh cluster: 20 KB DB, 40 % of it free — nothing worth defragmenting
    status = (
        '[{"Endpoint":"http://127.0.0.1:2379","Status":{"header":{"member_id":1},"version":"3.5.16",'
        '"dbSize":20480,"leader":1,"raftIndex":8,"raftTerm":2,"dbSizeInUse":12288}}]'
    )
    b = make_must_gather(
        tmp_path / "b",
        {"m0": {"current": [R.ZAP34_ELECTION]}},
        etcd_info={"endpoint_status.json": status, "member_list.json": '{"members":[{"ID":1,"name":"m0"}]}'},
    )
    r = run("analyze", b, "--duration", "all", "--format", "json", "--output", tmp_path / "o")
    a = json.loads(r.stdout)
    kpi = next(k for k in a["kpis"] if k["id"] == "fragmentation")
    assert (kpi["value"], kpi["status"], kpi["note"]) == (40.0, "pass", "not judged below a 100 MiB DB")
    assert r.returncode == 0


def test_an_error_quoting_a_newline_is_still_one_line(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text('wal_fsync_logged: {"warn\\ning": 1}\n')
    r = run("analyze", SAMPLE, "--thresholds", t, "--output", tmp_path / "o")
    assert r.returncode == 3 and len(r.stderr.splitlines()) == 1 and "warn\\ning" in r.stderr, r.stderr
    r = run("analyze", tmp_path / "no\nsuch", "--output", tmp_path / "o")
    assert r.returncode == 3 and len(r.stderr.splitlines()) == 1, r.stderr


def test_the_fatal_error_a_member_stopped_on_is_quoted_even_before_the_window(tmp_path):
    # previous.log ends on the fatal line real etcd 3.5.16 wrote, an hour before the 15-minute window
    early = "2024-05-13T09:00:00.000000000Z "
    late = "2024-05-13T10:20:00.000000000Z "
    b = make_must_gather(
        tmp_path / "b",
        {"m0": {"previous": [early + R.ZAP34_APPLY, early + R.ZAP35_FATAL], "current": [late + R.ZAP34_APPLY]}},
        wrapper=False,
    )
    r = run("analyze", b, "--format", "json", "--output", tmp_path / "o")
    a = json.loads(r.stdout)
    (finding,) = [f for f in a["findings"] if f["id"] == "fatal_errors"]
    assert finding["member"] == "m0" and finding["severity"] == "warning"
    assert "bind: address already in use" in finding["message"]
    (quoted,) = finding["evidence"]
    assert quoted["file"].endswith("previous.log") and quoted["line"] == 2 and '"level":"fatal"' in quoted["excerpt"]
    (m0,) = a["members"]
    said = "discovery failed: listen tcp 127.0.0.1:23791: bind: address already in use"
    assert m0["fatal_errors"] == {"count": 1, "last_error": said}


def test_version_names_the_tool_and_its_engine_and_matches_the_package():
    r = run("--version")
    assert r.returncode == 0 and r.stderr == ""
    assert re.fullmatch(r"etcd-perf (\S+) \(polars \S+, Python \S+\)\n", r.stdout), r.stdout
    assert r.stdout.split()[1] == importlib.metadata.version("etcd-perf") == TOOL_VERSION
