"""What OpenShift did to etcd, read from pods and events (gather/platform.py), and the windows that tie a
platform stop to an election, a restart or a peer's warnings (analyze/rollouts.py): parsers that never
fail on what a bundle holds, and windows that are exactly what rules.yaml says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.rollouts import Outage, outage_at_election, outage_of_restart, platform_rules
from etcd_perf.gather.platform import parse_time, read_platform
from etcd_perf.gather.yamlio import MAX_DEPTH, TooDeep, check_depth

T0 = datetime(2021, 8, 3, 9, 27, 17, tzinfo=UTC)


@given(
    at=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    digits=st.integers(0, 9),
    zone=st.sampled_from(["Z", "+00:00", "+05:30", "-07:00"]),
)
def test_kubernetes_times_in_any_precision_and_zone_are_read_to_the_microsecond(at, digits, zone):
    offset = timedelta(0) if zone == "Z" else datetime.strptime(zone.replace(":", ""), "%z").utcoffset()
    local = (at + offset).replace(tzinfo=None)
    frac = f"{local.microsecond:06d}000"[:digits]
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "") + zone
    want = at.replace(microsecond=int((frac + "000000")[:6]) if digits else 0)
    assert parse_time(text) == want


@given(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
def test_anything_else_is_no_time_never_an_error(value):
    got = parse_time(value)
    assert got is None or got.tzinfo is not None


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12))
TREES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "items",
                    "metadata",
                    "name",
                    "reason",
                    "message",
                    "status",
                    "containerStatuses",
                    "state",
                    "terminated",
                    "finishedAt",
                    "startedAt",
                    "exitCode",
                    "involvedObject",
                    "spec",
                    "nodeName",
                    "firstTimestamp",
                    "count",
                    "labels",
                    "containers",
                    "env",
                ]
            ),
            kids,
            max_size=5,
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(tree=TREES)
def test_any_pod_or_event_file_of_any_shape_is_read_without_error(tree, tmp_path_factory):
    path = tmp_path_factory.mktemp("y") / "events.yaml"
    path.write_text(yaml.safe_dump({"items": [tree, {"metadata": {"name": "installer-2-n"}, "reason": "Killing"}]}))
    got = read_platform([(path, "pods.yaml")], [(path, "events.yaml")], [(path, "default/events.yaml")])
    assert [i.name for i in got.installers] == ["installer-2-n"]
    assert got.events.filter(got.events["reason"] == "Killing").height >= 1


@given(depth=st.integers(MAX_DEPTH + 1, 5000), kind=st.sampled_from(["[", "{a: ", "- "]))
def test_a_document_nested_too_deep_is_refused_before_libyaml_recurses(depth, kind):
    text = "x:\n" + "".join("  " * i + "- \n" for i in range(depth)) if kind == "- " else kind * depth
    try:
        check_depth(text)
    except TooDeep:
        return
    raise AssertionError("not refused")


def _outage(stop_s: float, back_s: float | None = 40.0) -> Outage:
    stop = T0 + timedelta(seconds=stop_s)
    back = stop + timedelta(seconds=back_s) if back_s is not None else None
    return Outage("m1", "rollout", stop, back, "the revision 3 rollout", revision=3, installer="installer-3-m1")


@given(offset=st.floats(-120, 120, allow_nan=False))
def test_an_election_is_the_platforms_exactly_when_the_leader_was_stopped_just_before_it(offset):
    """rules.yaml: the stop from election_after_stop_s before the election to election_before_stop_s after."""
    rules = platform_rules()
    o = _outage(offset)
    got = outage_at_election([o], "m1", T0)
    within = -rules.election_after_stop.total_seconds() <= offset <= rules.election_before_stop.total_seconds()
    assert (got is o) == within
    assert outage_at_election([o], "m2", T0) is None  # another member's stop explains nothing


@given(
    stops=st.lists(st.integers(-3600, 0), min_size=1, max_size=4, unique=True),
    start=st.integers(0, 900),
    back=st.one_of(st.none(), st.integers(1, 600)),
)
def test_a_restart_comes_back_from_the_latest_stop_before_it_and_only_the_first(stops, start, back):
    """A start of the member's etcd within the stop's window is the platform's: up to its first start after
    the stop (``back``) when the logs show it, else up to restart_after_stop_s. A later start (the member
    killed after it came back from a rollout, say) is a restart of its own."""
    rules = platform_rules()
    outages = [_outage(s, back) for s in stops]
    at = T0 + timedelta(seconds=start)
    got = outage_of_restart(outages, "m1", at)
    until = back + 5 if back is not None else rules.restart_after_stop.total_seconds()
    near = [s for s in stops if -5 <= start - s <= until]
    assert (got is None) == (not near)
    if near:
        assert got.stopped == T0 + timedelta(seconds=max(near))
