"""etcd_info files as etcdctl writes them: exact uint64 IDs, omitempty fields, empty and partial files."""

import json

from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.gather.etcd_info import read_etcd_info

# Real output of etcdctl 3.4.23 and 3.5.16 from the lab (bundles/sample, tests/data/lab-3.4.23).
MEMBER_LIST = (
    '{"header":{"cluster_id":17857285563427398504,"member_id":14590032085621120027,"raft_term":2},"members":[{"ID":'
    '1259761490123835750,"name":"m2","peerURLs":["http://127.0.0.1:22380"],"clientURLs":["http://127.0.0.1:22379"]},'
    '{"ID":15429915573580438332,"peerURLs":["http://127.0.0.1:32380"]}]}'
)
STATUS_NOSPACE = (
    '[{"Endpoint":"http://127.0.0.1:41379","Status":{"header":{"cluster_id":18316654328845288930,"member_id":'
    '6881063925964678461,"revision":13116,"raft_term":4},"version":"3.5.16","dbSize":102907904,"leader":'
    '14856492550911836116,"raftIndex":13140,"raftTerm":4,"raftAppliedIndex":13140,"errors":["memberID:'
    '14856492550911836116 alarm:NOSPACE "],"dbSizeInUse":91668480}}]'
)


def write(tmp_path, files: dict[str, str]):
    d = tmp_path / "etcd_info"
    d.mkdir(parents=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return read_etcd_info(d)


def test_member_ids_above_2_53_are_exact(tmp_path):
    info = write(tmp_path, {"member_list.json": MEMBER_LIST, "endpoint_status.json": STATUS_NOSPACE})
    assert [m.id for m in info.members] == [1259761490123835750, 15429915573580438332]
    assert format(info.members[1].id, "x") == "d622127685879b3c"  # as the logs print it
    assert info.members[1].name is None  # an unstarted member has no name
    st = info.status[0]
    assert st.leader == 14856492550911836116 and st.db_in_use == 91668480 and st.errors


def test_alarm_list_variants(tmp_path):
    assert write(tmp_path / "a", {"alarm_list.json": "{}"}).alarms == []  # 3.4, no alarm
    header_only = '{"header":{"cluster_id":1,"member_id":2,"revision":3,"raft_term":4}}'
    assert write(tmp_path / "b", {"alarm_list.json": header_only}).alarms == []  # 3.5+
    info = write(tmp_path / "c", {"alarm_list.json": '{"alarms":[{"memberID":7383792418829112008,"alarm":1}]}'})
    assert [(a.member_id, a.alarm) for a in info.alarms] == [(7383792418829112008, "NOSPACE")]


def test_empty_and_invalid_files_are_noted_not_fatal(tmp_path):
    info = write(tmp_path, {"member_list.json": "", "endpoint_status.json": "[{", "alarm_list.json": "{}"})
    assert info.files == {
        "member_list.json": "empty",
        "endpoint_status.json": "invalid",
        "endpoint_health.json": "missing",
        "alarm_list.json": "ok",
        "object_count.json": "missing",
    }
    assert len(info.problems) == 2


def test_endpoint_health_took_and_errors(tmp_path):
    text = (
        '[{"endpoint":"http://127.0.0.1:22379","health":true,"took":"1.511699ms"},{"endpoint":"http://127.0.0.1:'
        '32379","health":false,"took":"3.000865624s","error":"context deadline exceeded"}]'
    )
    info = write(tmp_path, {"endpoint_health.json": text})
    assert [(h.health, round(h.took_ms, 6), h.error) for h in info.health] == [
        (True, 1.511699, None),
        (False, 3000.865624, "context deadline exceeded"),
    ]


def test_object_count_both_formats(tmp_path):
    old = write(tmp_path / "a", {"object_count.json": '{"events":"30","pods":"7"}'})
    assert [(c.resource, c.count) for c in old.object_counts] == [("events", 30), ("pods", 7)]
    new = write(
        tmp_path / "b",
        {
            "object_count.json": json.dumps(
                {"etcd_resources": [{"object_count": "7", "object_name": "/kubernetes.io/pods", "object_size": "21K"}]}
            )
        },
    )
    assert [(c.resource, c.count, c.size) for c in new.object_counts] == [("/kubernetes.io/pods", 7, "21K")]


def test_wrong_types_are_skipped(tmp_path):
    info = write(
        tmp_path,
        {
            "member_list.json": '{"members":[{"ID":1.5e19,"name":"x"},{"ID":"12","name":7}]}',
            "endpoint_status.json": '{"not":"a list"}',
        },
    )
    assert [(m.id, m.name) for m in info.members] == [(12, None)]
    assert any("exact integer" in p for p in info.problems)
    assert any("not an array" in p for p in info.problems)


@given(st.integers(0, 2**64 - 1))
def test_any_uint64_member_id_round_trips_exactly(mid):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        info = write(Path(d), {"member_list.json": '{"members":[{"ID":' + str(mid) + ',"name":"m"}]}'})
    assert info.members[0].id == mid
