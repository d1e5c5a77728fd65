"""Elections: every member logs the same one; counted once per raft term, with who campaigned."""

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.analyze.diagnosis import _closest_cause
from etcd_perf.analyze.elections import DISK_NEAR
from etcd_perf.analyze.model import build_analysis
from etcd_perf.analyze.rules import default_rules
from etcd_perf.analyze.window import bundle_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from tests import real_lines as R
from tests.factory import make_must_gather


def analyse(path):
    with open_bundle(path) as opened:
        b = load_bundle(opened, "t")
    return build_analysis(b, bundle_window(b, "all"), default_rules())


def test_one_election_seen_by_three_members_in_three_formats_counts_once(tmp_path):
    # etcd#17455-style 3.4 capnslog cluster: the winner logs "became leader" through raft's stdlib
    # logger, the others "elected leader" — the same term 35.
    lose = "raft2022/03/19 02:50:20 INFO: raft.node: d52f541376b969a lost leader 179e3b479c322b79 at term 35"
    make_must_gather(
        tmp_path,
        {
            "a": {"current": [R.RAFT_STDLIB_BECAME_LEADER]},
            "b": {"current": [lose, R.RAFT_STDLIB_ELECTED]},
            "c": {"current": [R.RAFT_STDLIB_ELECTED.replace("d52f541376b969a", "179e3b479c322b79")]},
        },
    )
    a = analyse(tmp_path)
    (e,) = a["cluster"]["elections"]
    assert (e["term"], e["leader_id"], e["observed_by"]) == (35, "6cb8f75d6cb36170", ["a", "b", "c"])
    assert a["cluster"]["leader_changes"] == 1


def test_capnslog_33_election_timeline(tmp_path):
    lines = [
        "2021-09-11 14:46:26.379622 I | raft: 305e2d98af38bb40 is starting a new election at term 57",
        "2021-09-11 14:46:26.379658 I | raft: 305e2d98af38bb40 became candidate at term 58",
        "2021-09-11 14:46:26.865693 I | raft: 305e2d98af38bb40 became follower at term 58",
        R.CAPNS_ELECTED,
    ]
    make_must_gather(tmp_path, {"x": {"current": lines}})
    (e,) = analyse(tmp_path)["cluster"]["elections"]
    assert (e["term"], e["leader"], e["candidates"]) == (58, "7752c0b6a21319fe", ["x"])


def test_an_old_leader_that_stopped_on_a_fatal_error_explains_the_election():
    at = datetime(2026, 11, 29, 5, 19, 52, tzinfo=UTC)
    around = pl.DataFrame(
        {"kind": ["fatal_error", "server_start"], "ts": [at - timedelta(seconds=1), at + timedelta(seconds=9)]}
    )
    kind, why = _closest_cause(around, at, lambda: around)
    assert kind == "restart" and "fatal error" in why


KINDS = ["wal_fsync_slow", "heartbeat_slow", "tick_missed", "server_start", "peer_unhealthy"]


@given(
    st.lists(st.tuples(st.sampled_from(KINDS), st.integers(-40_000, 10_000), st.integers(0, 5_000)), max_size=8),
    st.lists(st.tuples(st.sampled_from([*KINDS, "apply_slow"]), st.integers(-40_000, 10_000)), max_size=12),
)
def test_the_old_leader_s_log_is_read_only_for_a_slow_fsync_near_the_election_and_decides_alike(troubles, logged):
    """``election_causes`` reads everything the old leader logged only when a slow fsync lies near the
    election (holding every event for it was the analysis' highest memory): the reader is called only then,
    and otherwise the log could not have changed the cause (an empty one gives the same)."""
    at = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    schema = {"kind": pl.String, "ts": pl.Datetime("us", "UTC"), "took_ms": pl.Float64}
    around = pl.DataFrame(
        [(k, at + timedelta(milliseconds=ms), float(took)) for k, ms, took in troubles], schema=schema, orient="row"
    )
    mine = pl.concat(
        [
            around.select("kind", "ts"),
            pl.DataFrame(
                [(k, at + timedelta(milliseconds=ms)) for k, ms in logged], schema=["kind", "ts"], orient="row"
            ).cast({"kind": pl.String, "ts": pl.Datetime("us", "UTC")}),
        ]
    )
    asked = []

    def reader() -> pl.DataFrame:
        asked.append(True)
        return mine

    cause = _closest_cause(around, at, reader)
    near = [k == "wal_fsync_slow" and abs(ms) <= DISK_NEAR.total_seconds() * 1000 for k, ms, _ in troubles]
    assert bool(asked) == any(near)
    if not asked:
        assert cause == _closest_cause(around, at, lambda: mine.clear())
