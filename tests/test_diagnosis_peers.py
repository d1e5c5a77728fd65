"""Who is to blame for peers' network trouble: the rule of ``diagnosis._network``, over any cluster.

The lab bundles (test_lab_bundles.py) pin it on what real etcd wrote; this pins its invariants on every
shape of trouble: any members, any links between them, any restarts, stalls and slow disks.
"""

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.diagnosis import Limits, _network, _troubled_links, stall_min_late_of_election_timeout
from etcd_perf.analyze.measures import ClusterView, MemberView, _by_peer_text, _peers_text
from etcd_perf.analyze.rules import default_rules
from tests.factory import member_view

AT = datetime(2026, 11, 26, 11, 46, 57, tzinfo=UTC)
LIMITS = Limits.of(default_rules())
SLOW_MS = LIMITS.peer_rtt_p99_ms


def member(
    name: str, restarted: bool, late: int, frozen: int, worst_ms: float = 2800.0, timeout_ms: float = 1000.0
) -> MemberView:
    return member_view(
        name,
        restarts=[AT] if restarted else [],
        signals={
            "heartbeat_failures": late,
            "heartbeat_max_exceeded_ms": worst_ms if late else None,
            "election_timeout_ms": timeout_ms,
            "wal_fsync_frozen_count": frozen,
            "fatal_errors": 0,
        },
    )


@st.composite
def clusters(draw) -> tuple[ClusterView, set[str]]:
    names = [f"master-{i}" for i in range(draw(st.integers(2, 5)))]
    members = [
        member(
            n,
            draw(st.booleans()),
            draw(st.integers(0, 3)),
            draw(st.integers(0, 1)),
            # a busy node's jitter, a real fraction of the election timeout, a pause
            draw(st.sampled_from([12.0, 43.0, 300.0, 700.0, 2800.0])),
            draw(st.sampled_from([1000.0, 2500.0])),
        )
        for n in names
    ]
    for m in members:
        for peer in names:
            if peer == m.name or not draw(st.booleans()):
                continue
            warnings = draw(st.integers(0, 9))
            if warnings:
                m.peer_warnings[peer] = {"peer_unhealthy": warnings}
            m.peer_rtt_p99_ms[peer] = draw(st.sampled_from([0.8, 1.6, 49.0, 203.4, 406.0]))
        # the member's own totals, as measure() gives them beside the per-peer figures
        m.signals["peer_unhealthy_count"] = sum(k["peer_unhealthy"] for k in m.peer_warnings.values())
        m.signals["peer_rtt_p99_ms"] = max(m.peer_rtt_p99_ms.values(), default=None)
    disk = set(draw(st.lists(st.sampled_from(names), unique=True)))
    view = ClusterView(members, [], [], {}, None, {})
    return view, disk


def explained_by_itself(m: MemberView, disk: set[str]) -> bool:
    s = m.signals
    stalled = (
        s["heartbeat_failures"]
        and m.name not in disk
        and s["heartbeat_max_exceeded_ms"] >= stall_min_late_of_election_timeout() * s["election_timeout_ms"]
    )
    return bool(m.restarts_in_window or s["wal_fsync_frozen_count"] or stalled)


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_a_member_is_blamed_only_when_a_peer_saw_trouble_with_it_and_it_went_down_or_is_the_one_link(case):
    view, disk = case
    links = _troubled_links(view, SLOW_MS)
    by_name = {m.name: m for m in view.members}
    hyps = _network(view, LIMITS, disk, [])
    lost = [h.members[0] for h in hyps if h.cause == "peer_unreachable"]
    went_down = {x for x in lost if explained_by_itself(by_name[x], disk)}
    # and every member that went down while a peer saw trouble with it is blamed
    assert went_down == {p for r, p in links if r != p and explained_by_itself(by_name[p], disk)}
    rest = [(r, p) for r, p in links if p not in went_down]  # what those members do not explain
    for x in lost:
        reporters = {r for r, p in links if p == x and r != x}
        assert reporters, x
        if x not in went_down:
            assert len({r for r, p in rest if p == x and r != x}) >= 2 and all(x in link for link in rest)
    network = [h.members[0] for h in hyps if h.cause == "network"]
    if set(lost) - went_down:
        assert not network  # the member every link left leads to explains them all
    for m in network:
        # what is left for the network: a member's trouble with a peer that did not go down
        assert any(r == m and p not in went_down for r, p in links), (m, lost)


@settings(max_examples=200, deadline=None)
@given(clusters(), st.randoms(use_true_random=False))
def test_the_diagnosis_does_not_depend_on_the_order_members_are_listed_in(case, rnd):
    view, disk = case
    shuffled = ClusterView(rnd.sample(view.members, len(view.members)), [], [], {}, None, {})

    def story(v: ClusterView) -> list:
        return sorted(_network(v, LIMITS, disk, []), key=lambda h: (h.cause, h.members))

    assert story(view) == story(shuffled)


@given(clusters())
def test_links_are_troubled_only_by_a_warning_or_a_slow_round_trip(case):
    view, _ = case
    for (r, p), (warnings, rtt) in _troubled_links(view, SLOW_MS).items():
        assert r != p
        assert warnings > 0 or (rtt is not None and rtt > SLOW_MS)


peer_names = st.sampled_from(["master-0", "master-1", "master-2", "4877b5e3e118b0b6"])


by_kind = st.dictionaries(st.sampled_from(["peer_unhealthy", "stream_lost"]), st.integers(1, 9), min_size=1)


@given(st.dictionaries(peer_names, by_kind))
def test_a_members_warnings_name_each_peer_once_most_named_first(warnings):
    text = _peers_text(warnings)
    if not warnings:
        assert text == ""
        return
    assert all(text.count(peer) == 1 for peer in warnings)
    if len(warnings) == 1:
        assert text == f"; all about {next(iter(warnings))}"
        return
    counts = [int(n) for n in re.findall(r"\((\d+)\)", text)]
    assert counts == sorted(counts, reverse=True) and sum(counts) == sum(sum(k.values()) for k in warnings.values())


@given(st.dictionaries(peer_names, st.floats(0.01, 5000, allow_nan=False)))
def test_round_trips_by_peer_are_given_worst_first_and_only_beside_another(rtts):
    text = _by_peer_text(rtts)
    if len(rtts) < 2:
        assert text == ""
        return
    positions = [text.index(f" {peer} ") for peer, _ in sorted(rtts.items(), key=lambda kv: (-kv[1], kv[0]))]
    assert positions == sorted(positions)
