"""When the diagnosis calls a leader stalled on its late heartbeats: ``diagnosis._stall`` over any member.

The lab bundles (test_lab_bundles.py) pin it on what real etcd wrote, the busy-leader-jitter bundle among
them (a leader the lab never stopped, its heartbeats 10-43 ms late on CI's busy machine); this pins the
rule for every lateness, election timeout and disk.
"""

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.analyze.diagnosis import _closest_cause, _stall, _without_jitter, stall_min_late_of_election_timeout
from etcd_perf.analyze.measures import ClusterView
from tests.factory import member_view


def leader(late: int, worst_ms: float | None, timeout_ms: float | None, pauses: int, pause_ms: float | None):
    return member_view(
        "master-2",
        is_leader=True,
        signals={
            "heartbeat_failures": late,
            "heartbeat_max_exceeded_ms": worst_ms,
            "heartbeat_pauses": pauses,
            "heartbeat_pause_max_ms": pause_ms,
            "election_timeout_ms": timeout_ms,
            "wal_fsync_frozen_count": 0,
        },
    )


lateness = st.one_of(st.none(), st.floats(0.01, 10_000, allow_nan=False))


@given(st.integers(0, 50), lateness, st.sampled_from([None, 1000.0, 2500.0]), st.booleans())
def test_a_leader_without_a_slow_disk_stalled_only_if_a_heartbeat_was_a_real_fraction_of_its_timeout_late(
    late, worst_ms, timeout_ms, has_disk_pause
):
    m = leader(late, worst_ms if late else None, timeout_ms, int(has_disk_pause), 1500.0 if has_disk_pause else None)
    hyps = _stall(ClusterView([m], [], [], {}, None, {}), disk_members=set())
    limit = stall_min_late_of_election_timeout() * (timeout_ms or 1000.0)  # etcd's default when not logged
    expected = bool(late) and worst_ms is not None and worst_ms >= limit
    assert bool(hyps) == expected
    if hyps:
        (h,) = hyps
        assert h.cause == "leader_stall" and h.members == ["master-2"]
        assert h.evidence[0].startswith(f"{late} heartbeat(s) sent late as leader")


@given(st.integers(0, 50), lateness, st.integers(0, 5), st.floats(1000, 10_000, allow_nan=False))
def test_on_a_slow_disk_only_pauses_with_the_disk_quiet_are_a_stall(late, worst_ms, pauses, pause_ms):
    """However late its heartbeats, a leader with a slow disk stalled only for the pauses measure() found
    (a second or more with no slow fsync of its own near): its disk explains the rest."""
    m = leader(late, worst_ms if late else None, 1000.0, pauses, pause_ms if pauses else None)
    hyps = _stall(ClusterView([m], [], [], {}, None, {}), disk_members={"master-2"})
    assert bool(hyps) == bool(pauses)
    if hyps:
        assert hyps[0].evidence[0].startswith(f"{pauses} heartbeat(s) sent late as leader")
        assert "while its disk was quiet" in hyps[0].evidence[0]


def test_the_jitter_ci_saw_is_no_stall_and_a_stopped_leader_is_one():
    view = ClusterView([leader(8, 43.3, 1000.0, 0, None)], [], [], {}, None, {})
    assert _stall(view, set()) == []
    view = ClusterView([leader(2, 2900.2, 1000.0, 0, None)], [], [], {}, None, {})
    assert [h.members for h in _stall(view, set())] == [["master-2"]]
    # Azure's 2500 ms election timeout: 300 ms late is under a quarter of it
    view = ClusterView([leader(3, 300.0, 2500.0, 0, None)], [], [], {}, None, {})
    assert _stall(view, set()) == []


@given(
    st.lists(st.one_of(st.none(), st.floats(0.01, 10_000, allow_nan=False)), max_size=6),
    st.sampled_from([1000.0, 2500.0]),
)
def test_an_election_is_put_down_to_late_heartbeats_only_when_one_was_late_enough_to_be_a_stall(lateness, timeout_ms):
    """The same bar as the stall hypothesis: the old leader's heartbeats a few tens of ms late are jitter, and
    explain no election (the elections table would otherwise call a leader the diagnosis did not stalled)."""
    at = datetime(2026, 12, 6, 20, 53, 58, tzinfo=UTC)
    around = pl.DataFrame(
        {
            "kind": ["heartbeat_slow"] * len(lateness),
            "ts": [at - timedelta(seconds=i + 1) for i in range(len(lateness))],
            "exceeded_ms": lateness,
        },
        schema={"kind": pl.String, "ts": pl.Datetime("us", "UTC"), "exceeded_ms": pl.Float64},
    )
    view = ClusterView([leader(len(lateness), None, timeout_ms, 0, None)], [], [], {}, None, {})
    kept = _without_jitter(around, view, "master-2")
    limit = stall_min_late_of_election_timeout() * timeout_ms
    assert kept["exceeded_ms"].to_list() == [x for x in lateness if x is None or x >= limit]
    kind, _ = _closest_cause(kept, at, lambda: around)
    assert kind == ("leader_stall" if kept.height else "unknown")
