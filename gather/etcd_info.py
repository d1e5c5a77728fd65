"""``etcd_info/*.json`` as etcdctl writes them, read exactly and tolerantly.

etcdctl's JSON carries member IDs as decimal uint64 above 2^53, so it is parsed with Python's
arbitrary-precision ints (jq and float-based readers round them). Protobuf ``omitempty`` means
false, zero and empty fields are absent. Files may be empty (``oc exec`` failed), ``{}`` (3.4 with
no alarm), header-only, or partial: each problem becomes a note, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etcd_perf.gather.durations import duration_ms

ALARM_NAMES = {0: "NONE", 1: "NOSPACE", 2: "CORRUPT"}


@dataclass
class MemberEntry:
    id: int
    name: str | None
    peer_urls: list[str]
    client_urls: list[str]
    is_learner: bool = False


@dataclass
class EndpointStatus:
    endpoint: str
    member_id: int | None
    version: str | None = None
    db_size: int | None = None
    db_in_use: int | None = None
    db_quota: int | None = None
    leader: int | None = None
    raft_term: int | None = None
    raft_index: int | None = None
    raft_applied_index: int | None = None
    revision: int | None = None
    is_learner: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class EndpointHealth:
    endpoint: str
    health: bool | None
    took_ms: float | None
    error: str | None


def is_local_socket(url: str | None) -> bool:
    """etcd's local Unix-socket listener (``unixs://<ip>:0``, ``unix://...``), as OpenShift configures it."""
    return bool(url) and url.lower().startswith(("unix://", "unixs://"))


@dataclass
class AlarmEntry:
    member_id: int | None
    alarm: str


@dataclass
class ObjectCount:
    resource: str
    count: int
    size: str | None = None


@dataclass
class EtcdInfo:
    members: list[MemberEntry] = field(default_factory=list)
    status: list[EndpointStatus] = field(default_factory=list)
    health: list[EndpointHealth] = field(default_factory=list)
    alarms: list[AlarmEntry] = field(default_factory=list)
    object_counts: list[ObjectCount] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # name -> state: ok | empty | missing | invalid
    problems: list[str] = field(default_factory=list)
    raw: dict[str, object] = field(default_factory=dict)
    cluster_ids: list[int] = field(default_factory=list)  # every response header's cluster_id


def exact_int(value: object) -> int | None:
    """An exact integer from JSON (int or decimal string); floats and bools are not IDs."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,20}", value.strip()):
        return int(value.strip())
    return None


def _str_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


MAX_JSON_BYTES = 256 << 20  # etcdctl's JSON of a cluster is kilobytes; a bigger file is not its output


def _load(path: Path, info: EtcdInfo) -> object | None:
    name = path.name
    if path.is_symlink():
        info.files[name] = "refused"
        info.problems.append(f"etcd_info/{name} is a symlink: not read (it could point outside the bundle)")
        return None
    if not path.is_file():
        info.files[name] = "missing"
        return None
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        info.files[name] = "invalid"
        info.problems.append(f"etcd_info/{name} is {size} bytes, over the {MAX_JSON_BYTES >> 20} MiB read: not read")
        return None
    text = path.read_bytes().decode("utf-8", errors="replace").strip()
    if not text:
        info.files[name] = "empty"
        info.problems.append(f"etcd_info/{name} is empty (the etcdctl command failed when collecting)")
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        info.files[name] = "invalid"
        info.problems.append(f"etcd_info/{name} is not valid JSON ({exc.msg} at char {exc.pos})")
        return None
    except RecursionError:  # a corrupt file of nested brackets: this file is lost, not the analysis
        info.files[name] = "invalid"
        info.problems.append(f"etcd_info/{name} is nested too deep to be etcdctl's output: not read")
        return None
    info.files[name] = "ok"
    info.raw[name] = data
    return data


def _members(data: object, info: EtcdInfo) -> None:
    header = data.get("header") if isinstance(data, dict) else None
    if isinstance(header, dict) and exact_int(header.get("cluster_id")) is not None:
        info.cluster_ids.append(exact_int(header.get("cluster_id")))
    items = data.get("members") if isinstance(data, dict) else None
    if not isinstance(items, list):
        info.problems.append("etcd_info/member_list.json has no members array")
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        mid = exact_int(item.get("ID"))
        if mid is None:
            info.problems.append(f"etcd_info/member_list.json: member without an exact integer ID: {item.get('ID')!r}")
            continue
        name = item.get("name")
        info.members.append(
            MemberEntry(
                id=mid,
                name=str(name) if isinstance(name, str) and name else None,
                peer_urls=_str_list(item.get("peerURLs")),
                client_urls=_str_list(item.get("clientURLs")),
                is_learner=item.get("isLearner") is True,
            )
        )


def _status(data: object, info: EtcdInfo) -> None:
    if not isinstance(data, list):
        info.problems.append("etcd_info/endpoint_status.json is not an array of endpoints")
        return
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("Status"), dict):
            continue
        st = item["Status"]
        header = st.get("header") if isinstance(st.get("header"), dict) else {}
        if exact_int(header.get("cluster_id")) is not None:
            info.cluster_ids.append(exact_int(header.get("cluster_id")))
        info.status.append(
            EndpointStatus(
                endpoint=str(item.get("Endpoint", "")),
                member_id=exact_int(header.get("member_id")),
                version=st.get("version") if isinstance(st.get("version"), str) else None,
                db_size=exact_int(st.get("dbSize")),
                db_in_use=exact_int(st.get("dbSizeInUse")),
                db_quota=exact_int(st.get("dbSizeQuota")),
                leader=exact_int(st.get("leader")),
                raft_term=exact_int(st.get("raftTerm")),
                raft_index=exact_int(st.get("raftIndex")),
                raft_applied_index=exact_int(st.get("raftAppliedIndex")),
                revision=exact_int(header.get("revision")),
                is_learner=st.get("isLearner") is True,
                errors=_str_list(st.get("errors")),
            )
        )


def _took_ms(values: list[str | None]) -> list[float | None]:
    if not values:
        return []
    return (
        pl.DataFrame({"t": values}, schema={"t": pl.String})
        .select(duration_ms(pl.col("t")).alias("ms"))["ms"]
        .to_list()
    )


def _health(data: object, info: EtcdInfo) -> None:
    if not isinstance(data, list):
        info.problems.append("etcd_info/endpoint_health.json is not an array of endpoints")
        return
    items = [i for i in data if isinstance(i, dict)]
    tooks = _took_ms([i.get("took") if isinstance(i.get("took"), str) else None for i in items])
    for item, took in zip(items, tooks, strict=True):
        health = item.get("health")
        error = item.get("error")
        info.health.append(
            EndpointHealth(
                endpoint=str(item.get("endpoint", "")),
                health=health if isinstance(health, bool) else None,
                took_ms=took,
                error=str(error) if error else None,
            )
        )


def _alarms(data: object, info: EtcdInfo) -> None:
    items = data.get("alarms") if isinstance(data, dict) else None
    if items is None:
        return  # {} (3.4) or header only (3.5+): no alarm
    if not isinstance(items, list):
        info.problems.append("etcd_info/alarm_list.json: alarms is not an array")
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        raw = item.get("alarm")
        name = ALARM_NAMES.get(raw, str(raw)) if isinstance(raw, int) else str(raw or "NONE")
        if name != "NONE":
            info.alarms.append(AlarmEntry(member_id=exact_int(item.get("memberID")), alarm=name))


def _object_counts(data: object, info: EtcdInfo) -> None:
    counts: list[ObjectCount] = []
    if isinstance(data, dict) and isinstance(data.get("etcd_resources"), list):
        for item in data["etcd_resources"]:
            if isinstance(item, dict):
                n = exact_int(item.get("object_count"))
                if n is not None:
                    size = item.get("object_size")
                    counts.append(ObjectCount(str(item.get("object_name", "")), n, str(size) if size else None))
    elif isinstance(data, dict):
        for key, value in data.items():
            n = exact_int(value)
            if n is not None:
                counts.append(ObjectCount(str(key), n))
    info.object_counts = sorted(counts, key=lambda c: (-c.count, c.resource))


def _object_counts_text(path: Path, info: EtcdInfo) -> None:
    """``uniq -c`` output (``   6208 events``), as gather scripts without jq write it."""
    counts = []
    for line in path.read_text(errors="replace").splitlines():
        m = re.fullmatch(r"\s*(\d+)\s+(\S+)\s*", line)
        if m:
            counts.append(ObjectCount(m.group(2), int(m.group(1))))
    if counts and not info.object_counts:
        info.object_counts = sorted(counts, key=lambda c: (-c.count, c.resource))


def read_etcd_info(directory: Path | None) -> EtcdInfo:
    info = EtcdInfo()
    if directory is None:
        info.problems.append("no etcd_info directory in the bundle: member list, DB sizes and alarms are unknown")
        return info
    readers = {
        "member_list.json": _members,
        "endpoint_status.json": _status,
        "endpoint_health.json": _health,
        "alarm_list.json": _alarms,
        "object_count.json": _object_counts,
    }
    for name, reader in readers.items():
        data = _load(directory / name, info)
        if data is not None:
            reader(data, info)
    text_counts = directory / "etcd_object_count"
    if text_counts.is_file() and not text_counts.is_symlink():
        _object_counts_text(text_counts, info)
    return info


# etcdctl's own words when one endpoint of ``endpoint status --cluster`` does not answer
STATUS_FAILED = re.compile(r"Failed to get the status of endpoint (\S+) \(([^)\n]*)\)")


def add_status_failures(info: EtcdInfo, stderr_texts: list[str]) -> None:
    """Endpoints etcdctl could not get the status of, from the collection's record of its stderr (a collect
    bundle's ``bundle.json``): each is an unhealthy endpoint with that error, unless a health check of it
    is in the bundle already. A member too slow to answer is unresponsive, not missing from the cluster."""
    known = {h.endpoint.rstrip("/") for h in info.health}
    for text in stderr_texts:
        for url, error in STATUS_FAILED.findall(text):
            if url.rstrip("/") not in known and not is_local_socket(url):
                info.health.append(EndpointHealth(url, False, None, f"endpoint status failed: {error}"))
                known.add(url.rstrip("/"))
