"""Real bundles from a real 3-member etcd with injected faults, judged against the lab's ground truth.

bundles/sample (etcd 3.5.16) comes from the project's lab (scripts/lab/scenario.py, harvested by the
real collect.sh); tests/data/shared-lab-3.5.16 and tests/data/lab-3.4.23 come from the lab in
../shared/lab; "fresh" is made during the test run by scripts/lab/scenario.py with the machine's etcd.
Every fault's time and member is in each one's ground_truth.jsonl.
"""

import io
import json
import re
import tarfile
from datetime import datetime, timedelta

import pytest

from etcd_perf.analyze.model import build_analysis
from etcd_perf.analyze.rules import default_rules
from etcd_perf.analyze.window import bundle_window, resolve_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from tests.factory import (
    BUSY_LEADER_JITTER,
    FROZEN_AFTER_THROTTLE,
    FROZEN_FSYNC,
    HEALTHY_LEADER_FROZEN,
    LAB_34,
    QUIET_THROTTLED_FSYNC,
    SAMPLE,
    SHARED_LAB_35,
    SILENT_FREEZE,
    THROTTLE_BEGAN_MID_FSYNC,
    THROTTLED_LEADER_ONE_FSYNC,
)

LABS = [
    pytest.param("sample", id="etcd-3.5.16-sample"),
    pytest.param("shared-lab-3.5.16", id="shared-lab-etcd-3.5.16"),
    pytest.param("lab-3.4.23", id="shared-lab-etcd-3.4.23"),
    pytest.param("frozen-fsync", id="ci-lab-etcd-3.5.16-frozen-fsync"),
    pytest.param("silent-freeze", id="lab-etcd-3.4.23-silent-freeze"),
    pytest.param("healthy-leader-frozen", id="ci-lab-etcd-3.5.16-healthy-leader-frozen"),
    pytest.param("throttled-leader-one-fsync", id="ci-lab-etcd-3.5.16-throttled-leader-one-fsync"),
    pytest.param("frozen-after-throttle", id="ci-lab-etcd-3.5.16-frozen-after-throttle"),
    pytest.param("quiet-throttled-fsync", id="ci-lab-etcd-3.5.16-quiet-throttled-fsync"),
    pytest.param("throttle-began-mid-fsync", id="ci-lab-etcd-3.5.16-rollout-throttle-began-mid-fsync"),
    pytest.param("busy-leader-jitter", id="ci-lab-etcd-3.5.16-rollout-busy-leader-jitter"),
    pytest.param("fresh", id="fresh-lab-via-collect.sh", marks=pytest.mark.lab),
]


@pytest.fixture
def lab(request):
    """(bundle path, ground truth path) for the parametrised lab bundle."""
    if request.param == "sample":
        return SAMPLE, SAMPLE / "ground_truth.jsonl"
    if request.param == "lab-3.4.23":
        return LAB_34, LAB_34 / "ground_truth.jsonl"
    if request.param == "silent-freeze":
        return SILENT_FREEZE / "bundle.tar.gz", SILENT_FREEZE / "ground_truth.jsonl"
    if request.param == "frozen-after-throttle":
        return FROZEN_AFTER_THROTTLE / "bundle.tar.gz", FROZEN_AFTER_THROTTLE / "ground_truth.jsonl"
    if request.param == "busy-leader-jitter":
        return BUSY_LEADER_JITTER / "bundle.tar.gz", BUSY_LEADER_JITTER / "ground_truth.jsonl"
    if request.param == "throttle-began-mid-fsync":
        return THROTTLE_BEGAN_MID_FSYNC / "bundle.tar.gz", THROTTLE_BEGAN_MID_FSYNC / "ground_truth.jsonl"
    if request.param == "quiet-throttled-fsync":
        return QUIET_THROTTLED_FSYNC / "bundle.tar.gz", QUIET_THROTTLED_FSYNC / "ground_truth.jsonl"
    if request.param == "throttled-leader-one-fsync":
        return THROTTLED_LEADER_ONE_FSYNC / "bundle.tar.gz", THROTTLED_LEADER_ONE_FSYNC / "ground_truth.jsonl"
    if request.param == "healthy-leader-frozen":
        return HEALTHY_LEADER_FROZEN / "bundle.tar.gz", HEALTHY_LEADER_FROZEN / "ground_truth.jsonl"
    if request.param == "frozen-fsync":
        return FROZEN_FSYNC / "bundle.tar.gz", FROZEN_FSYNC / "ground_truth.jsonl"
    if request.param == "shared-lab-3.5.16":
        return SHARED_LAB_35, SHARED_LAB_35 / "ground_truth.jsonl"
    return request.getfixturevalue("fresh_lab_bundle")


def analyse(path, duration="all"):
    with open_bundle(path) as opened:
        bundle = load_bundle(opened, path.name)
    return build_analysis(bundle, bundle_window(bundle, duration), default_rules())


def ground_truth(truth_path):
    return [json.loads(line) for line in truth_path.read_text().splitlines()]


def raw_leader_terms(path):
    """Oracle independent of the parser: terms of every "became leader at term N" line in the bundle, and
    of every "elected leader X at term N" (a leader whose own log is gone, as after a rollout, is still
    seen electing by its peers)."""
    texts = []
    if path.is_dir():
        texts = [p.read_text(errors="replace") for p in path.rglob("*.log")]
    else:
        with tarfile.open(path) as tf:
            texts = [
                io.TextIOWrapper(tf.extractfile(m), errors="replace").read() for m in tf if m.name.endswith(".log")
            ]
    found = r"[0-9a-f]+ (?:became leader|elected leader [0-9a-f]+) at term (\d+)"
    return {int(t) for text in texts for t in re.findall(found, text)}


def raw_slow_fsync_during(path, member, stopped_at, seconds):
    """Oracle independent of the parser: a "slow fdatasync" line of `member` logged on waking."""
    start = datetime.fromisoformat(stopped_at.replace("Z", "+00:00"))
    with tarfile.open(path) as tf:
        texts = [
            io.TextIOWrapper(tf.extractfile(m), errors="replace").read()
            for m in tf
            if m.name.endswith(".log") and f"etcd-{member}/" in m.name
        ]
    for text in texts:
        for ts in re.findall(r'"ts":"([^"]+)"[^\n]*"msg":"slow fdatasync"', text):
            at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            if start <= at <= start + timedelta(seconds=seconds + 1):
                return True
    return False


def subsequence(small, big):
    it = iter(big)
    return all(x in it for x in small)


def observed_leaders(truth):
    """Distinct consecutive leaders the lab observed: each change is one election."""
    seq = []
    for e in truth:
        if e["event"] == "leader_observed" and (not seq or seq[-1] != e["member"]):
            seq.append(e["member"])
    return seq


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_slow_disk_members_are_flagged_on_disk_and_the_healthy_one_is_not(lab):
    path, truth_path = lab
    truth = ground_truth(truth_path)
    throttled = {e["member"] for e in truth if e["event"] == "slow_disk_start"}
    a = analyse(path)
    # a slow disk is a critical disk finding (fsyncs over 1 s); the bulk 1 MiB writes that fill the DB
    # to NOSPACE slow every member's backend commits, which may add disk *warnings* on any member
    disk = {f["member"] for f in a["findings"] if f["subsystem"] == "disk" and f["severity"] == "critical"}
    assert disk == throttled
    healthy = {m["name"] for m in a["members"]} - throttled
    assert healthy and not (healthy & disk)
    # what the ground truth guarantees ends there: a healthy member on a loaded 2-core machine may still
    # show a WAL fsync or backend commit p99 of some ms over 10 ms, a true *warning* the lab's loop
    # devices cause; never a logged fsync over 1 s but those a leader the lab froze woke up in
    assert all(
        m["wal_fsync"]["slow_count"] == m["wal_fsync"]["frozen_count"] for m in a["members"] if m["name"] in healthy
    )


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_every_election_is_counted_once(lab):
    path, truth_path = lab
    a = analyse(path)
    terms = [e["term"] for e in a["cluster"]["elections"]]
    assert sorted(terms) == sorted(raw_leader_terms(path))  # each term once, none missed
    leaders = [e["leader"] for e in a["cluster"]["elections"]]
    distinct = [x for i, x in enumerate(leaders) if i == 0 or leaders[i - 1] != x]
    assert subsequence(observed_leaders(ground_truth(truth_path)), distinct)
    assert a["cluster"]["leader_changes"] == len(leaders)


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_restart_and_nospace_alarm_are_reported(lab):
    path, truth_path = lab
    truth = ground_truth(truth_path)
    killed = {e["member"] for e in truth if e["event"] == "member_sigkill"}
    a = analyse(path)
    restarts = {m["name"]: m["restarts"] for m in a["members"]}
    assert {n for n, r in restarts.items() if r} == killed
    assert {f["member"] for f in a["findings"] if f["id"] == "restarts"} == killed
    alarm = next(f for f in a["findings"] if f["id"] == "alarm_active")
    assert alarm["severity"] == "critical" and "NOSPACE" in alarm["message"]
    assert a["status"] == "CRITICAL" and a["exit_code"] == 2


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_the_fatal_error_a_member_stopped_on_is_reported_and_only_there(lab):
    """Fresh bundles: the killed follower first fails to start (its client port taken) and stops on a
    fatal error, which must be quoted from its previous log; kept bundles predate the fault: no finding."""
    path, truth_path = lab
    fatal = {e["member"] for e in ground_truth(truth_path) if e["event"] == "member_fatal"}
    a = analyse(path)
    found = [f for f in a["findings"] if f["id"] == "fatal_errors"]
    assert {f["member"] for f in found} == fatal
    for f in found:
        assert "address already in use" in f["message"]
        assert any(ev["file"].endswith("previous.log") and '"level":"fatal"' in ev["excerpt"] for ev in f["evidence"])


def test_sample_verdict_is_pinned():
    a = analyse(SAMPLE, duration="15")
    assert (a["status"], a["window"]["minutes"]) == ("CRITICAL", 15.0)
    assert (a["bundle"]["collected_at"], a["bundle"]["collected_at_source"]) == (
        "2026-11-26T11:47:12.867108Z",
        "manifest",
    )
    fs = {m["name"]: m["wal_fsync"]["slow_count"] for m in a["members"]}
    assert fs == {"master-0": 5, "master-1": 3, "master-2": 0}  # the two throttled disks
    counted = {m["name"]: round(m["wal_fsync"]["over_1s_counted"]) for m in a["members"]}
    assert counted == fs  # the histogram agrees with the logs
    hb = {m["name"]: m["heartbeat_failures"] for m in a["members"]}
    assert hb == {"master-0": 2, "master-1": 2, "master-2": 0}  # leaders while slow or stopped
    assert [e["leader"] for e in a["cluster"]["elections"]] == ["master-1", "master-0", "master-2"]
    kpi = {(k["id"], k["member"]): k for k in a["kpis"]}
    assert all(
        kpi[(k, m)]["source"] == "metrics"
        for k in ("wal_fsync_p99", "backend_commit_p99", "peer_rtt_p99")
        for m in ("master-0", "master-1", "master-2")
    )
    assert a["summary"]["kpis_not_measured"] == 0
    assert kpi[("leader_changes", None)]["status"] == "pass"


def test_evidence_points_at_real_lines():
    a = analyse(SAMPLE)
    f = next(f for f in a["findings"] if f["id"] == "wal_fsync_logged" and f["member"] == "master-1")
    assert f["evidence"], "a finding without evidence is an opinion"
    for ev in f["evidence"]:
        line = (SAMPLE / ev["file"]).read_text().splitlines()[ev["line"] - 1]
        assert ev["excerpt"] in line and "slow fdatasync" in line


@pytest.mark.lab
def test_fresh_lab_bundle_carries_metrics_and_they_point_at_the_throttled_disks(fresh_lab_bundle):
    path, truth_path = fresh_lab_bundle
    truth = ground_truth(truth_path)
    if not any(e["event"] == "prometheus_started" for e in truth):
        pytest.skip("prometheus not installed: no dump in this bundle")
    a = analyse(path)
    assert a["metrics"]["available"] and a["metrics"]["files"][0]["kind"] == "openmetrics dump"
    kpis = {(k["id"], k["member"]): k for k in a["kpis"]}
    for m in a["members"]:
        for key in ("wal_fsync_p99", "backend_commit_p99", "peer_rtt_p99"):
            assert kpis[(key, m["name"])]["source"] == "metrics"
    throttled = {e["member"] for e in truth if e["event"] == "slow_disk_start"}
    # the histogram's own count of fsyncs above ~1 s names the throttled disks, as the logs do (a p99
    # cannot: a few multi-second fsyncs are far below 1 % of a minute's thousands), and also a leader
    # SIGSTOPped in the middle of an fsync, which really took seconds: the raw log is the oracle
    frozen_mid_fsync = {
        e["member"]
        for e in truth
        if e["event"] == "leader_sigstop" and raw_slow_fsync_during(path, e["member"], e["ts"], e["seconds"])
    }
    counted = {m["name"]: m["wal_fsync"]["over_1s_counted"] for m in a["members"]}
    assert {name for name, n in counted.items() if n and n >= 0.5} == throttled | frozen_mid_fsync


def expected_cause(truth, member, at):
    """What the lab did to `member` just before `at`: a stopped process or a throttled disk."""
    faults = [
        e
        for e in truth
        if e.get("member") == member
        and e["event"] in ("slow_disk_start", "slow_disk_end", "leader_sigstop", "rollout_stop")
        and datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) <= at + timedelta(seconds=1)
    ]
    if not faults:
        return None
    last = faults[-1]
    if last["event"] == "leader_sigstop":
        return "leader_stall"
    if last["event"] == "rollout_stop":
        return "rollout"
    return "slow_disk"


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_each_election_is_blamed_on_the_old_leader_and_its_real_fault(lab):
    path, truth_path = lab
    truth = ground_truth(truth_path)
    a = analyse(path)
    blamed = 0
    for e in a["cluster"]["elections"]:
        cause = e["cause"]
        if e["previous_leader"] is None:
            assert cause is None  # the bootstrap election has no old leader to blame
            continue
        assert cause["cause_member"] == e["previous_leader"]
        assert e["previous_leader"] not in cause["symptom_members"]
        at = datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        expected = expected_cause(truth, cause["cause_member"], at)
        if expected:
            assert cause["cause"] == expected, (e["term"], cause)
            blamed += 1
    assert blamed >= 1


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_headline_names_the_throttled_disks(lab):
    path, truth_path = lab
    throttled = {e["member"] for e in ground_truth(truth_path) if e["event"] == "slow_disk_start"}
    a = analyse(path)
    if not throttled:
        pytest.skip("this machine could not throttle disks")
    top = a["diagnosis"]["hypotheses"][0]
    assert (top["cause"], top["confidence"], set(top["members"])) == ("slow_disk", "high", throttled)
    assert a["summary"]["headline"].startswith("Most likely bottleneck: slow disk on ")


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_every_hypothesis_names_each_member_it_concerns(lab):
    path, _ = lab
    for h in analyse(path)["diagnosis"]["hypotheses"]:
        for member in h["members"]:
            assert member in h["summary"], h


def test_a_fsync_a_frozen_leader_woke_in_is_shown_apart_and_explained_as_a_stall():
    a = analyse(HEALTHY_LEADER_FROZEN / "bundle.tar.gz")
    fsync = {m["name"]: m["wal_fsync"] for m in a["members"]}
    assert (fsync["master-2"]["slow_count"], fsync["master-2"]["frozen_count"]) == (1, 1)
    kpi = {(k["id"], k["member"]): k["value"] for k in a["kpis"]}
    assert kpi[("wal_fsync_logged", "master-2")] == 0  # the disk KPI leaves the freeze out
    (stall,) = [h for h in a["diagnosis"]["hypotheses"] if h["cause"] == "leader_stall"]
    assert stall["members"] == ["master-2"] and "paused, not the disk" in stall["evidence"][0]


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_peers_trouble_is_blamed_on_the_member_the_lab_killed_not_on_the_network(lab):
    """When a member is killed, both others log lost streams and failed probes about it, and their round
    trips to it alone go up: it is the member they lost, with its restart. The lab's only network fault
    is a slow link into one member (fresh bundles), so the network between the others is never the
    medium-or-better story."""
    path, truth_path = lab
    truth = ground_truth(truth_path)
    killed = {e["member"] for e in truth if e["event"] == "member_sigkill"}
    stopped = {e["member"] for e in truth if e["event"] == "leader_sigstop"}
    slowed = {e["member"] for e in truth if e["event"] == "link_delay_start"}
    hyps = analyse(path)["diagnosis"]["hypotheses"]
    lost = {h["members"][0]: h for h in hyps if h["cause"] == "peer_unreachable"}
    assert all(len(h["members"]) == 1 for h in hyps if h["cause"] == "peer_unreachable")
    assert set(lost) <= killed | stopped | slowed
    for member in killed:
        assert "restarted" in lost[member]["summary"], lost[member]
        reporters = [e for e in lost[member]["evidence"] if " saw trouble with it: " in e]
        assert len(reporters) == 2, lost[member]["evidence"]
    assert all(h["confidence"] == "low" for h in hyps if h["cause"] == "network"), hyps


@pytest.mark.lab
def test_a_slow_link_into_one_member_is_pinned_on_that_member(fresh_lab_bundle):
    """Fresh bundles: the lab holds what peers send one member 0.3 s longer for 40 s (netdelay.py). etcd
    logs nothing at that delay; both peers' round trips to that member alone rise, and the diagnosis
    names it (its node or its link), not the network between the others."""
    path, truth_path = fresh_lab_bundle
    (x,) = [e["member"] for e in ground_truth(truth_path) if e["event"] == "link_delay_start"]
    a = analyse(path)
    rtts = {m["name"]: {r["peer_name"]: r["p99_ms"] for r in m["peer_rtt"]["per_peer"]} for m in a["members"]}
    assert all(rtts[m][x] > 50 for m in rtts if m != x), rtts
    (lost,) = [h for h in a["diagnosis"]["hypotheses"] if h["cause"] == "peer_unreachable" and h["members"] == [x]]
    assert sum(" saw trouble with it: round-trip p99 " in e for e in lost["evidence"]) == 2, lost


def test_a_lost_peer_without_a_restart_in_the_window_is_named_with_less_confidence():
    """Sample, a window from after its stall (11:46:47) to before it came back (11:46:57): both others'
    trouble is with the member the lab killed alone (its node or its link); without its stall or its
    restart in view, that is medium confidence, never the network."""
    with open_bundle(SAMPLE) as opened:
        bundle = load_bundle(opened, "sample")
    window = resolve_window(bundle.collected_at, None, "5", "2026-11-26T11:46:48Z", "2026-11-26T11:46:56Z")
    hyps = build_analysis(bundle, window, default_rules())["diagnosis"]["hypotheses"]
    (lost,) = [h for h in hyps if h["cause"] == "peer_unreachable"]
    assert (lost["members"], lost["confidence"]) == (["master-0"], "medium")
    assert "its node or its network link" in lost["summary"]
    assert not [h for h in hyps if h["cause"] == "network"]


def test_network_warnings_and_round_trips_are_given_per_peer_by_name():
    a = analyse(SAMPLE)
    m1 = next(m for m in a["members"] if m["name"] == "master-1")
    (about,) = m1["network_events_by_peer"]
    assert about["peer"] == "master-0"
    assert about["count"] == sum(about["by_kind"].values()) == m1["network_events"]
    names = {r["peer"]: r["peer_name"] for r in m1["peer_rtt"]["per_peer"]}
    assert set(names.values()) == {"master-0", "master-2"}
    ids = {m["name"]: m["id"] for m in a["members"]}
    assert all(ids[name] == peer for peer, name in names.items())
    by_id = {(f["id"], f["member"]): f["message"] for f in a["findings"]}
    assert by_id[("network_trouble", "master-1")].endswith("; all about master-0")
    rtt = by_id[("peer_rtt_p99", "master-1")]
    assert ", by peer master-0 " in rtt and rtt.index("master-0 ") < rtt.index("master-2 ")  # worst first


def test_a_stalled_leader_its_peers_lost_is_one_story_with_their_evidence():
    """The lab froze leader master-2 (SIGSTOP): its stall hypothesis carries master-1's slow round trips
    to it, and no second hypothesis says the same thing."""
    hyps = analyse(HEALTHY_LEADER_FROZEN / "bundle.tar.gz")["diagnosis"]["hypotheses"]
    (stall,) = [h for h in hyps if h["cause"] == "leader_stall"]
    assert stall["members"] == ["master-2"]
    assert any(e.startswith("master-2: master-1 saw trouble with it: round-trip p99") for e in stall["evidence"])
    assert "master-2" not in {h["members"][0] for h in hyps if h["cause"] == "peer_unreachable"}


def fault_periods(truth, member):
    """(start, end) of every fault the lab put on `member`'s disk or process."""
    ts = [(e, datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))) for e in truth if e.get("member") == member]
    periods = []
    for e, at in ts:
        if e["event"] == "slow_disk_start":
            end = next((t for f, t in ts if f["event"] == "slow_disk_end" and t >= at), at)
            periods.append((at, end))
        elif e["event"] == "leader_sigstop":
            periods.append((at, at + timedelta(seconds=e["seconds"])))
    return periods


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_since_when_the_slow_fsyncs_were_logged_is_when_the_lab_slowed_that_disk(lab):
    """The first and last slow fsync of a member (the headline's "since when") fall within the lab's faults
    on it: a throttled disk, or a process stopped mid-fsync (logged when it resumes, a few seconds late)."""
    path, truth_path = lab
    truth = ground_truth(truth_path)
    a = analyse(path)
    slack = timedelta(seconds=10)
    for m in a["members"]:
        logged = m["wal_fsync"]["logged"]
        if not logged["count"]:
            assert logged["first"] is None and logged["last"] is None
            continue
        first, last = (datetime.fromisoformat(logged[k].replace("Z", "+00:00")) for k in ("first", "last"))
        periods = fault_periods(truth, m["name"])
        assert any(start <= first <= end + slack for start, end in periods), (m["name"], first, periods)
        assert any(start <= last <= end + slack for start, end in periods), (m["name"], last, periods)
    top = a["diagnosis"]["hypotheses"][0]
    if top["cause"] == "slow_disk":
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(-\d\d:\d\d:\d\d)? UTC", a["summary"]["headline"])


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_a_stalled_leader_is_one_the_lab_stopped_even_when_its_disk_was_slow_too(lab):
    """Every leader the lab stopped, and only those, is a stall among the causes. A leader on a throttled
    disk sends heartbeats late as well, a fraction of a second each, even with every fsync under the 1 s
    etcd logs at: those stay the disk's. A pause of a second or more with its disk quiet is a stall, on a
    member whose disk was slow at another time too; and a leader frozen without a word (no late heartbeat
    logged) is one when the election timeline shows it (an fsync spanning the election, the new term
    learned late), as the elections table says."""
    path, truth_path = lab
    stopped = {e["member"] for e in ground_truth(truth_path) if e["event"] == "leader_sigstop"}
    a = analyse(path)
    stalled = {m for h in a["diagnosis"]["hypotheses"] if h["cause"] == "leader_stall" for m in h["members"]}
    assert stalled == stopped, a["diagnosis"]["hypotheses"]
    causes = [e["cause"] for e in a["cluster"]["elections"] if e.get("cause")]
    assert {c["cause_member"] for c in causes if c["cause"] == "leader_stall"} <= stalled


def test_the_sample_leader_stopped_after_its_disk_was_throttled_is_a_stall_and_a_slow_disk():
    hyps = {h["cause"]: h for h in analyse(SAMPLE)["diagnosis"]["hypotheses"]}
    assert hyps["leader_stall"]["members"] == ["master-0"]
    why, election = hyps["leader_stall"]["evidence"]
    assert "2 heartbeat(s) sent late as leader (worst 2.84 s" in why and "while its disk was quiet" in why
    assert election.startswith("master-0: the election of term 4 (at 2026-11-26 11:46:44 UTC): ")
    assert set(hyps["slow_disk"]["members"]) == {"master-0", "master-1"}
    # its late heartbeats are the stall's, not evidence of its disk; master-1's are its disk's
    disk = hyps["slow_disk"]["evidence"]
    assert not any(e.startswith("master-0:") and "heartbeat" in e for e in disk)
    assert any(e.startswith("master-1:") and "heartbeat" in e for e in disk)


@pytest.mark.parametrize("lab", LABS, indirect=True)
def test_a_rollout_is_planned_work_its_election_and_restart_included(lab):
    """Fresh bundles: the lab rolls revision 2 out to the leader's node as the etcd operator does (installer
    pod, events, SIGTERM, a new pod whose log begins with the preamble). The election that follows is the
    rollout's, with the installer pod as evidence; the member's restart is planned, not counted; nothing
    calls the old leader frozen. Kept bundles predate the step and have no rollout."""
    path, truth_path = lab
    truth = ground_truth(truth_path)
    rolled = [e for e in truth if e["event"] == "rollout_stop"]
    a = analyse(path)
    assert [(r["member"], r["revision"], r["installer"]) for r in a["rollouts"]] == [
        (e["member"], e["revision"], e["installer"]) for e in rolled
    ]
    for e in rolled:
        stop = datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        after = [
            x
            for x in a["cluster"]["elections"]
            if x["previous_leader"] == e["member"]
            and timedelta(0) <= datetime.fromisoformat(x["ts"].replace("Z", "+00:00")) - stop <= timedelta(seconds=10)
        ]
        assert len(after) == 1, a["cluster"]["elections"]
        cause = after[0]["cause"]
        assert (cause["cause"], cause["installer"], cause["revision"], cause["planned"]) == (
            "rollout",
            e["installer"],
            e["revision"],
            True,
        )
        assert any(
            ev["file"].endswith("core/pods.yaml") and e["installer"] in ev["excerpt"] for ev in cause["evidence"]
        )
        member = next(m for m in a["members"] if m["name"] == e["member"])
        assert [r["cause"] for r in member["restarts_planned"]] == ["rollout"]
        killed = any(x["event"] == "member_sigkill" and x["member"] == e["member"] for x in truth)
        assert bool(member["restarts"]) == killed and member["restart_without_previous_log"] is not None
        assert member["tuning"]["static_pod_version"] == str(e["revision"])
        stalls = [h for h in a["diagnosis"]["hypotheses"] if h["cause"] == "leader_stall"]
        assert not [h for h in stalls if e["member"] in h["members"] and f"term {after[0]['term']}" in str(h)]
    assert a["cluster"]["leader_changes_planned"] == len(rolled)
