"""What OpenShift itself did to etcd, as the bundle records it: installer pods, etcd pod revisions,
Kubernetes events of the etcd namespaces and of the nodes.

cluster-etcd-operator rolls every etcd configuration change out as a new static-pod *revision*, one
node at a time: an ``installer-<N>-<node>`` pod writes the manifest, the kubelet stops the old pod
and starts a new one (see ../shared/reference/openshift-operations.md). A member stopped that way is
planned work, not etcd trouble; the records here let ``analyze`` tell the two apart. This module reads
files and says where each record came from (file, line); it never judges what they mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import yaml

from etcd_perf.gather.yamlio import LOADER, check_depth

INSTALLER_POD = re.compile(r"^installer-(?P<revision>\d+)-(?P<node>.+)$")
# files larger than this are not read (a whole-cluster events.yaml is a few MB; a bigger one is not ours)
MAX_YAML_BYTES = 64 << 20

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),  # when it first happened (firstTimestamp, else eventTime)
    "last_ts": pl.Datetime("us", "UTC"),
    "count": pl.Int64(),
    "namespace": pl.String(),
    "reason": pl.String(),
    "message": pl.String(),
    "type": pl.String(),
    "object_kind": pl.String(),
    "object_name": pl.String(),
    "field_path": pl.String(),
    "component": pl.String(),
    "host": pl.String(),
    "file": pl.String(),
    "line": pl.UInt64(),
}


@dataclass(frozen=True)
class ContainerRun:
    """One terminated (or running) container of a pod, from its status."""

    container: str
    started: datetime | None
    finished: datetime | None
    exit_code: int | None
    reason: str | None


@dataclass(frozen=True)
class InstallerPod:
    """An ``installer-<N>-<node>`` pod: it installed static-pod revision N on that node."""

    name: str
    node: str
    revision: int
    runs: tuple[ContainerRun, ...]
    file: str
    line: int | None

    @property
    def started(self) -> datetime | None:
        times = [r.started for r in self.runs if r.started]
        return min(times) if times else None

    @property
    def finished(self) -> datetime | None:
        times = [r.finished for r in self.runs if r.finished]
        return max(times) if times else None

    @property
    def exit_code(self) -> int | None:
        codes = [r.exit_code for r in self.runs if r.exit_code is not None]
        return max(codes) if codes else None


@dataclass(frozen=True)
class EtcdPodRevision:
    """Which static-pod revision an etcd pod runs: label ``revision``, env ``ETCD_STATIC_POD_VERSION``."""

    pod: str
    node: str | None
    revision: int | None
    static_pod_version: int | None
    started: datetime | None  # the etcd container's start (status), when given
    file: str


@dataclass
class Platform:
    installers: list[InstallerPod] = field(default_factory=list)
    etcd_pods: list[EtcdPodRevision] = field(default_factory=list)
    events: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EVENT_SCHEMA))
    problems: list[str] = field(default_factory=list)


def parse_time(value: object) -> datetime | None:
    """A Kubernetes time (RFC 3339, 'Z' or an offset, microseconds or none) in UTC; None if absent or bad."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if m and m.group(2):  # Go writes up to nine fraction digits; Python reads six
        text = m.group(1) + m.group(2)[:7] + m.group(3)
    try:
        stamp = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)


def _load(path: Path, rel: str, problems: list[str]) -> tuple[object, yaml.Node | None]:
    """The YAML document and its node tree (for line numbers); (None, None) with a note when unreadable."""
    try:
        size = path.stat().st_size
    except OSError:
        return None, None
    if size > MAX_YAML_BYTES:
        problems.append(f"{rel}: {size} bytes, over the {MAX_YAML_BYTES >> 20} MiB read for such a file: not read")
        return None, None
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
        check_depth(text)
        loader = LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(f"{rel}: not readable as YAML ({first})")
        return None, None
    return data, node


def _item_lines(node: yaml.Node | None) -> list[int | None]:
    """The 1-based line where each element of a List's ``items`` starts (evidence points at it)."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _items(data: object, node: yaml.Node | None) -> list[tuple[dict, int | None]]:
    """(object, line) for a List's items, or the document itself when it is one object."""
    if not isinstance(data, dict):
        return []
    items = data.get("items")
    if isinstance(items, list):
        lines = _item_lines(node)
        return [(it, lines[i] if i < len(lines) else None) for i, it in enumerate(items) if isinstance(it, dict)]
    return [(data, 1)]


def _d(obj: object, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _s(obj: object, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _runs(status: dict) -> tuple[ContainerRun, ...]:
    runs = []
    statuses = status.get("containerStatuses")
    for cs in statuses if isinstance(statuses, list) else []:
        if not isinstance(cs, dict):
            continue
        for state in (_d(cs, "lastState"), _d(cs, "state")):
            term, running = _d(state, "terminated"), _d(state, "running")
            if term:
                runs.append(
                    ContainerRun(
                        str(cs.get("name")),
                        parse_time(term.get("startedAt")),
                        parse_time(term.get("finishedAt")),
                        _int(term.get("exitCode")),
                        _s(term, "reason"),
                    )
                )
            elif running:
                runs.append(ContainerRun(str(cs.get("name")), parse_time(running.get("startedAt")), None, None, None))
    return tuple(runs)


def _env(container: dict, name: str) -> str | None:
    envs = container.get("env")
    for env in envs if isinstance(envs, list) else []:
        if isinstance(env, dict) and env.get("name") == name and env.get("value") is not None:
            return str(env["value"])
    return None


def _pod_records(obj: dict, rel: str, line: int | None, out: Platform) -> None:
    meta, spec, status = _d(obj, "metadata"), _d(obj, "spec"), _d(obj, "status")
    name = _s(meta, "name")
    if not name:
        return
    node = _s(spec, "nodeName")
    m = INSTALLER_POD.match(name)
    if m:
        out.installers.append(
            InstallerPod(name, node or m.group("node"), int(m.group("revision")), _runs(status), rel, line)
        )
        return
    labels = _d(meta, "labels")
    containers = spec.get("containers") if isinstance(spec.get("containers"), list) else []
    etcd = next((c for c in containers if isinstance(c, dict) and c.get("name") == "etcd"), None)
    if etcd is None or not name.startswith("etcd-"):
        return
    etcd_run = [r for r in _runs(status) if r.container == "etcd"]
    out.etcd_pods.append(
        EtcdPodRevision(
            pod=name,
            node=node,
            revision=_int(labels.get("revision")),
            static_pod_version=_int(_env(etcd, "ETCD_STATIC_POD_VERSION")),
            started=max((r.started for r in etcd_run if r.started), default=None),
            file=rel,
        )
    )


def _event_row(obj: dict, rel: str, line: int | None) -> dict | None:
    reason = _s(obj, "reason")
    if not reason:
        return None
    meta, involved, source = _d(obj, "metadata"), _d(obj, "involvedObject"), _d(obj, "source")
    series = _d(obj, "series")
    first = parse_time(obj.get("firstTimestamp")) or parse_time(obj.get("eventTime"))
    first = first or parse_time(meta.get("creationTimestamp"))
    last = parse_time(obj.get("lastTimestamp")) or parse_time(series.get("lastObservedTime")) or first
    count = _int(obj.get("count")) or _int(series.get("count")) or 1
    return {
        "ts": first,
        "last_ts": last,
        "count": count,
        "namespace": _s(meta, "namespace") or _s(involved, "namespace"),
        "reason": reason,
        "message": " ".join((_s(obj, "message") or _s(obj, "note") or "").split()),
        "type": _s(obj, "type"),
        "object_kind": _s(involved, "kind") or _s(_d(obj, "regarding"), "kind"),
        "object_name": _s(involved, "name") or _s(_d(obj, "regarding"), "name"),
        "field_path": _s(involved, "fieldPath"),
        "component": _s(source, "component") or _s(obj, "reportingComponent") or _s(obj, "reportingController"),
        "host": _s(source, "host"),
        "file": rel,
        "line": line,
    }


def read_platform(
    pod_files: list[tuple[Path, str]], event_files: list[tuple[Path, str]], node_event_files: list[tuple[Path, str]]
) -> Platform:
    """Installer pods and etcd pod revisions from pod YAML (single pods or ``core/pods.yaml`` lists), and the
    events of the etcd namespaces (every one) and of the ``default`` namespace (those about nodes: reboots).
    Each file: (path, its label in the bundle). A copy of one event under several image directories counts once.
    """
    out = Platform()
    for path, rel in pod_files:
        data, node = _load(path, rel, out.problems)
        for obj, line in _items(data, node):
            _pod_records(obj, rel, line, out)
    rows = []
    for files, nodes_only in ((event_files, False), (node_event_files, True)):
        for path, rel in files:
            data, node = _load(path, rel, out.problems)
            for obj, line in _items(data, node):
                row = _event_row(obj, rel, line)
                if row is not None and (not nodes_only or row["object_kind"] == "Node"):
                    rows.append(row)
    if rows:
        events = pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
        keys = ["namespace", "reason", "object_kind", "object_name", "field_path", "ts", "message"]
        out.events = events.unique(keys, keep="first", maintain_order=True).sort(
            "ts", "namespace", "file", "line", nulls_last=True
        )
    # one record per installer pod and per etcd pod (the per-pod YAML and the PodList may both have it)
    out.installers = sorted(
        {(i.name): i for i in reversed(out.installers)}.values(), key=lambda i: (i.revision, i.name)
    )
    out.etcd_pods = sorted({p.pod: p for p in reversed(out.etcd_pods)}.values(), key=lambda p: p.pod)
    return out
