"""Deep analysis from real lines: what was slow, where traced time went, what coincided, is the cluster sane."""

import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.capacity import capacity
from etcd_perf.analyze.consistency import consistency
from etcd_perf.analyze.measures import measure
from etcd_perf.analyze.requests import COLUMNS as REQUEST_COLUMNS
from etcd_perf.analyze.requests import SLOW_REQUEST_KINDS, attribution, slow_requests
from etcd_perf.analyze.timeline import correlations, minutes
from etcd_perf.analyze.traces import PHASES, decompose
from etcd_perf.analyze.window import Window, bundle_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import EVENT_ORDER, load_bundle
from tests import real_lines as R
from tests.factory import LAB_34, make_must_gather
from tests.test_logparse import parse

# etcd-io/etcd#12094 (3.4 trace) and #20418 (3.6 linearizableReadLoop), verbatim; the 3.5 put trace
# with two steps from a public repo (real-log-lines.md)
TRACE_RANGE = (
    '{"level":"info","ts":"2020-06-30T01:18:21.061Z","caller":"traceutil/trace.go:145","msg":"trace[58337926] range",'
    '"detail":"{range_begin:/registry/services/endpoints/kube-system/kube-scheduler; range_end:; response_count:1; '
    'response_revision:17787301; }","duration":"741.382094ms","start":"2020-06-30T01:18:20.319Z","end":'
    '"2020-06-30T01:18:21.061Z","steps":["trace[58337926] \'agreement among raft nodes before linearized reading\'  '
    '(duration: 741.286801ms)"]}'
)
TRACE_PUT = (
    '{"level":"info","ts":"2021-11-16T02:23:01.727+0800","caller":"traceutil/trace.go:171",'
    '"msg":"trace[214976224] put",'
    '"detail":"{key:/micro/registry/Meet/Meet-ee5b8119-4ed0-474b-b948-86ee166325a2; req_size:614; response_revision:3; '
    '}","duration":"102.469459ms","start":"2021-11-16T02:23:01.623+0800","end":"2021-11-16T02:23:01.725+0800","steps":'
    "[\"trace[214976224] 'process raft request'  (duration: 25.521542ms)\",\"trace[214976224] 'marshal mvccpb.KeyValue'"
    '  (duration: 76.424667ms)"],"step_count":2}'
)
# etcd 3.4.23 in the project's lab (tests/data/lab-3.4.23, master-1 current.log line 184): a step name with
# an apostrophe, verbatim
TRACE_PUT_APOSTROPHE = (
    '{"level":"info","ts":"2026-11-26T10:47:48.215Z","caller":"traceutil/trace.go:152","msg":"trace[18394'
    '12898] put","detail":"{key:/kubernetes.io/leases/openshift-ingress/lease-24; req_size:353; response_'
    'revision:7438; }","duration":"696.089709ms","start":"2026-11-26T10:47:47.519Z","end":"2026-11-26T10:'
    '47:48.215Z","steps":["trace[1839412898] \'process raft request\'  (duration: 95.809853ms)","trace[1839'
    "412898] 'get key's previous created_revision and leaseID'  (duration: 599.78283ms)\"]}"
)
OPERATOR_GROUPS = (
    '2019-12-03 15:13:40.596703 W | etcdserver: read-only range request "key:\\"/kubernetes.io/operators.coreos.com/'
    'operatorgroups/\\" range_end:\\"/kubernetes.io/operators.coreos.com/operatorgroups0\\" " with result '
    '"range_response_count:3 size:2470" took too long (318.499455ms) to execute'
)


def events_of(lines):
    ev, _ = parse(lines)
    return ev.with_columns(member=pl.lit("m0"), file=pl.lit("current.log"))


def test_slow_requests_are_attributed_to_resource_namespace_and_operation():
    reqs = slow_requests(events_of([R.CAPNS_APPLY, R.ZAP34_APPLY, R.ZAP35_REQUEST_STATS, OPERATOR_GROUPS]))
    got = reqs.select("operation", "resource", "namespace", "read_only", "response_count", "response_size").rows()
    assert got == [
        ("range (count only)", "storageclasses", None, True, 0, 6),
        ("range", "namespaces", None, True, 1, 174),  # cluster-scoped: "default" is the name
        ("txn", "leases", "kube-system", False, 0, 43),
        ("range over a prefix", "operators.coreos.com/operatorgroups", None, True, 3, 2470),
    ]


def test_attribution_ranks_by_time_lost():
    a = attribution(events_of([R.CAPNS_APPLY, R.ZAP34_APPLY, R.ZAP35_REQUEST_STATS]))
    assert a["count"] == 3
    assert [r["resource"] for r in a["by_resource"]] == ["storageclasses", "leases", "namespaces"]
    assert a["slowest"][0]["took_ms"] == pytest.approx(2285.637356)


SLOW_AND_TRACED = [R.CAPNS_APPLY, R.ZAP34_APPLY, R.ZAP35_REQUEST_STATS, OPERATOR_GROUPS, TRACE_RANGE, TRACE_PUT]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*SLOW_AND_TRACED, R.ZAP35_DEFRAG_DONE]), min_size=1, max_size=40), st.randoms())
def test_what_the_deep_analysis_ranks_and_sums_does_not_depend_on_the_rows_order(lines, rnd):
    # a bundle hands the attribution its kinds one after the other, not in time order (Bundle.scan): its sums
    # are exact and its ties are broken by where each line was, so no order of the rows changes a report
    events = events_of(lines)
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=rnd.randrange(2**32))
    assert attribution(shuffled.lazy()) == attribution(events)
    assert decompose(shuffled) == decompose(events)
    window = Window(None, None, "all")
    assert minutes(shuffled, window).equals(minutes(events, window))


def test_a_bundle_scan_is_its_events_kind_after_kind_and_attributes_as_they_do_in_time_order():
    bundle = load(LAB_34)
    kinds = ("apply_slow", "request_stats", "trace")
    in_order = bundle.scan(*kinds).sort(EVENT_ORDER, nulls_last=True, maintain_order=True).collect()
    assert in_order.height > 0 and in_order.equals(bundle.of(*kinds))
    scanned = attribution(bundle.scan(*SLOW_REQUEST_KINDS, columns=REQUEST_COLUMNS))
    assert scanned["count"] > 0 and scanned == attribution(bundle.of(*SLOW_REQUEST_KINDS))


def test_trace_steps_are_split_into_phases():
    d = decompose(events_of([TRACE_RANGE, TRACE_PUT]))
    phases = {r["phase"]: r["total_ms"] for r in d["by_phase"]}
    assert phases == pytest.approx(
        {"raft agreement (ReadIndex)": 741.286801, "raft agreement (proposal)": 25.521542, "apply / put": 76.424667}
    )
    put = {r["phase"]: r["share_pct"] for r in d["by_op_phase"] if r["op"] == "put"}
    assert put == {"apply / put": 75.0, "raft agreement (proposal)": 25.0}


def test_a_step_name_with_an_apostrophe_is_read_whole():
    d = decompose(events_of([TRACE_PUT_APOSTROPHE]))
    phases = {r["phase"]: r["total_ms"] for r in d["by_phase"]}
    assert phases == pytest.approx({"index lookup": 599.78283, "raft agreement (proposal)": 95.809853})


def test_a_slow_burst_is_lined_up_with_a_defrag_in_the_same_minute():
    defrag = R.ZAP35_DEFRAG_DONE.replace("2023-11-06T06:40:12.845Z", "2020-06-30T01:18:30.000Z")
    ev = events_of([R.ZAP34_APPLY, R.ZAP34_APPLY.replace('"531.978977ms"', '"900ms"'), defrag])
    per = minutes(ev, Window(None, None, "all"))
    (c,) = correlations(per)
    assert (c["member"], c["slow_events"], c["coincides_with"]) == ("m0", 2, ["defrag on m0"])


def load(path):
    with open_bundle(path) as opened:
        return load_bundle(opened, "t")


def test_consistency_flags_two_leaders_a_lagging_term_and_a_member_without_status(tmp_path):
    status = (
        '[{"Endpoint":"http://a:2379","Status":{"header":{"member_id":1},"leader":1,"raftTerm":5,"raftAppliedIndex":90}},'
        '{"Endpoint":"http://b:2379","Status":{"header":{"member_id":2},"leader":2,"raftTerm":3,"raftAppliedIndex":40}}]'
    )
    members = '{"members":[{"ID":1,"name":"m0"},{"ID":2,"name":"m1"},{"ID":3,"name":"m2","isLearner":true}]}'
    make_must_gather(
        tmp_path,
        {"m0": {"current": [R.ZAP34_APPLY]}},
        etcd_info={"endpoint_status.json": status, "member_list.json": members},
    )
    b = load(tmp_path)
    c = consistency(b, measure(b, bundle_window(b, "all")))
    assert (c["raft_term_spread"], c["applied_index_spread"], c["learners"]) == (2, 50, ["m2"])
    assert c["missing_from_endpoint_status"] == ["m2"] and not c["consistent"]
    assert any("2 different leaders" in p for p in c["problems"])
    assert any("members without a pod" in p for p in c["problems"])


def test_capacity_says_when_a_defrag_would_help(tmp_path):
    gib = 1024**3
    status = (
        f'[{{"Endpoint":"http://a:2379","Status":{{"header":{{"member_id":1}},"leader":1,"dbSize":{4 * gib},'
        f'"dbSizeInUse":{gib},"dbSizeQuota":{8 * gib}}}}}]'
    )
    make_must_gather(
        tmp_path,
        {"m0": {"current": [R.ZAP34_APPLY]}},
        etcd_info={
            "endpoint_status.json": status,
            "member_list.json": '{"members":[{"ID":1,"name":"m0"}]}',
            "object_count.json": '{"events":"300","pods":"100"}',
        },
    )
    b = load(tmp_path)
    cap = capacity(b, measure(b, bundle_window(b, "all")))
    (m,) = cap["members"]
    assert (m["defrag_would_help"], m["free_bytes"], m["quota_used_pct"]) == (True, 3 * gib, 50.0)
    assert [(r["resource"], r["share_pct"]) for r in cap["top_resources"]] == [("events", 75.0), ("pods", 25.0)]


# a step as etcd's traceutil writes it: "trace[N] '<step>' <fields> (duration: <d>)"
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC.-_/", min_size=1, max_size=8)
STEP_NAME = st.one_of(
    st.sampled_from(sorted(PHASES)),
    st.lists(st.one_of(WORD, st.builds("{}'{}".format, WORD, WORD)), min_size=1, max_size=5).map(" ".join),
)
STEP_FIELDS = st.one_of(
    st.just(""), st.builds("{{req_type:range; range_begin:{}; range_end:; }}".format, st.text(max_size=20))
)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() under a minute: "661ns", "233.675µs", "4.101453ms", "1.044022245s"."""
    for unit, size in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if ns >= size:
            whole, frac = divmod(ns, size)
            return f"{whole}" + (f".{frac:0{len(str(size)) - 1}d}".rstrip("0") if frac else "") + unit
    return f"{ns}ns"


STEP_NS = st.integers(1, 59 * 10**9)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(STEP_NAME, STEP_FIELDS, STEP_NS), min_size=1, max_size=5), st.booleans())
def test_traced_time_is_summed_by_phase_whatever_the_step_names_and_fields(steps, ascii_only):
    texts = [f"trace[7] '{name}' {fields} (duration: {go_duration(ns)})" for name, fields, ns in steps]
    line = json.dumps(
        {
            "level": "info",
            "ts": "2024-05-13T10:21:33.123Z",
            "caller": "traceutil/trace.go:171",
            "msg": "trace[7] range",
            "duration": "1s",
            "steps": texts,
            "step_count": len(texts),
        },
        separators=(",", ":"),
        ensure_ascii=ascii_only,
    )
    expected: dict[str, float] = {}
    for name, _, ns in steps:
        phase = PHASES.get(name, "other")
        expected[phase] = expected.get(phase, 0.0) + ns / 1e6
    d = decompose(events_of([line]))
    assert {r["phase"]: r["total_ms"] for r in d["by_phase"]} == pytest.approx(expected)


# keys as the kube-apiserver stores them: (path under the prefix, resource as the report names it, namespaced)
STORED = [
    ("pods", "pods", True),
    ("leases", "leases", True),
    ("configmaps", "configmaps", True),
    ("services/endpoints", "endpoints", True),
    ("services/specs", "services", True),
    ("minions", "nodes", False),
    ("controllers", "replicationcontrollers", True),
    ("clusterrolebindings", "clusterrolebindings", False),
    ("operators.coreos.com/operatorgroups", "operators.coreos.com/operatorgroups", True),
    ("apiextensions.k8s.io/customresourcedefinitions", "apiextensions.k8s.io/customresourcedefinitions", False),
]
SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.:", min_size=1, max_size=20).filter(
    lambda s: s not in (".", "..")
)


@st.composite
def stored_keys(draw):
    """A key, its resource and namespace: one object, a namespace's objects (``ns/``), or all of them."""
    path, resource, namespaced = draw(st.sampled_from(STORED))
    key = f"{draw(st.sampled_from(['/registry', '/kubernetes.io']))}/{path}/"
    namespace = draw(SEGMENT) if namespaced else None
    if namespace is not None:
        key += namespace + "/"
    scope = draw(st.sampled_from(["object", "listing", "all"]))
    if scope == "object":
        key += draw(SEGMENT)
    elif scope == "all":
        key, namespace = key.removesuffix(f"{namespace}/") if namespace else key, None
    return key, resource, namespace


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored_keys(), st.sampled_from(["range", "prefix", "txn"]))
def test_a_slow_request_is_put_on_its_resource_and_namespace(stored, form):
    key, resource, namespace = stored
    request = {
        "range": f'key:"{key}" ',
        "prefix": f'key:"{key}" range_end:"{key[:-1]}0" ',
        "txn": f'compare:<target:MOD key:"{key}" mod_revision:7 > success:<request_put:<key:"{key}" value_size:9 >>',
    }[form]
    line = json.dumps(
        {
            "level": "warn",
            "ts": "2024-05-13T10:21:33.123Z",
            "caller": "etcdserver/util.go:166",
            "msg": "apply request took too long",
            "took": "150ms",
            "expected-duration": "100ms",
            "prefix": "read-only range " if form != "txn" else "",
            "request": request,
            "response": "size:5",
        },
        separators=(",", ":"),
    )
    (row,) = slow_requests(events_of([line])).iter_rows(named=True)
    assert (row["resource"], row["namespace"]) == (resource, namespace), key


def test_a_fatal_error_counts_in_its_minute_as_a_restart():
    ev = events_of([R.ZAP35_FATAL, R.ZAP34_APPLY.replace("2020-06-30T01:18:21", "2026-11-29T05:13:02")])
    per = minutes(ev, Window(None, None, "all"))
    assert per.filter(pl.col("restart") > 0)["restart"].to_list() == [1]
