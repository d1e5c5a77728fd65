"""A logged slow fsync is judged as etcd and OpenShift alert: critical when it took longer than the member's
election timeout (one alone can cost the leader) or when they recur (the etcd mixin's etcdHighFsyncDurations:
a 5-minute rate); a single one under the timeout is a warning. On Azure (election timeout 2.5 s) one 1.17 s
fsync in half an hour is not a critical cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.model import build_analysis
from etcd_perf.analyze.rules import default_rules
from etcd_perf.analyze.window import bundle_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from tests.factory import make_must_gather

START = datetime(2021, 8, 3, 9, 0, tzinfo=UTC)


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _line(at: datetime, level: str, msg: str, **fields: str) -> str:
    """A zap line as etcd 3.5 writes it (field order as etcd's: level, ts, caller, msg, then the fields)."""
    record = {"level": level, "ts": _ts(at), "caller": "etcdserver/x.go:1", "msg": msg, **fields}
    return json.dumps(record, separators=(",", ":"))  # compact, as zap writes


def _pod(timeout_ms: int | None) -> str:
    env = f"    env:\n    - {{name: ETCD_ELECTION_TIMEOUT, value: '{timeout_ms}'}}\n" if timeout_ms else ""
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: etcd-m0}}\nspec:\n  containers:\n  - name: etcd\n{env}"


def _analyse(tmp, fsyncs: list[tuple[float, float]], pod_timeout: int | None, logged_timeout: str = "1s") -> dict:
    """One member whose log has etcd's start-up line and slow fsyncs (seconds after the start, took s)."""
    lines = [_line(START, "info", "starting an etcd server", **{"election-timeout": logged_timeout})]
    lines += [
        _line(START + timedelta(seconds=at), "warn", "slow fdatasync", took=f"{took}s", **{"expected-duration": "1s"})
        for at, took in sorted(fsyncs)
    ]
    lines.append(_line(START + timedelta(minutes=40), "info", "ready to serve client requests"))
    b = make_must_gather(tmp, {"m0": {"current": lines}}, wrapper=False)
    (b / "namespaces" / "openshift-etcd" / "pods" / "etcd-m0" / "etcd-m0.yaml").write_text(_pod(pod_timeout))
    with open_bundle(b) as opened:
        bundle = load_bundle(opened, "b")
    return build_analysis(bundle, bundle_window(bundle, "all"), default_rules())


def _fsync_finding(a: dict) -> dict | None:
    return next((f for f in a["findings"] if f["id"] == "wal_fsync_logged"), None)


def test_one_fsync_under_an_azure_election_timeout_is_a_warning(tmp_path):
    a = _analyse(tmp_path / "azure", [(600, 1.17)], 2500)
    f = _fsync_finding(a)
    assert f["severity"] == "warning" and "critical" not in f["message"]
    assert a["status"] == "WARNING"
    assert a["members"][0]["tuning"]["election_timeout_ms"] == "2500"


def test_the_same_fsync_over_a_1_s_election_timeout_is_critical_and_says_why(tmp_path):
    a = _analyse(tmp_path / "aws", [(600, 1.17)], 1000)
    f = _fsync_finding(a)
    assert f["severity"] == "critical" and a["status"] == "CRITICAL"
    assert "took longer than its election timeout of 1 s" in f["message"]


def test_recurring_fsyncs_are_critical_under_any_timeout(tmp_path):
    a = _analyse(tmp_path / "azure", [(600, 1.1), (660, 1.2), (800, 1.3)], 2500)
    f = _fsync_finding(a)
    assert f["severity"] == "critical" and "3 within 5 minutes" in f["message"]
    kpi = next(k for k in a["kpis"] if k["id"] == "wal_fsync_logged")
    assert kpi["status"] == "critical"  # the KPI table says what the finding says


def test_without_a_pod_the_timeout_comes_from_etcds_start_up_line(tmp_path):
    a = _analyse(tmp_path / "b", [(600, 1.17)], None, logged_timeout="2.5s")
    assert a["members"][0]["tuning"]["election_timeout_ms"] == "2500"
    assert _fsync_finding(a)["severity"] == "warning"


@settings(max_examples=15, deadline=None)
@given(
    timeout=st.sampled_from([1000, 1500, 2500, 5000]),
    fsyncs=st.lists(
        st.tuples(st.integers(0, 1800), st.floats(1.0, 6.0).map(lambda x: round(x, 3))),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    ),
)
def test_severity_is_critical_exactly_when_one_exceeds_the_timeout_or_three_fall_in_5_minutes(
    tmp_path_factory, timeout, fsyncs
):
    a = _analyse(tmp_path_factory.mktemp("b"), fsyncs, timeout)
    times = sorted(at for at, _ in fsyncs)
    recurring = any(sum(1 for t in times if s - 300 < t <= s) >= 3 for s in times)
    over = any(took * 1000 > timeout for _, took in fsyncs)
    assert _fsync_finding(a)["severity"] == ("critical" if over or recurring else "warning")
