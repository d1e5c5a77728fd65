"""Where etcd's files live in a bundle, wherever its root is.

A must-gather has a ``must-gather.local.*`` wrapper, one or several image directories, or none;
archives are repacked without the top folder; our own collect bundle adds ``bundle.json``. So the
tree is walked once and everything is found by shape, not by a fixed path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from etcd_perf.gather.identity import CLUSTERVERSION_FILES, is_clusterversion

# Pods in openshift-etcd that are not etcd members.
NOT_MEMBER_PODS = re.compile(
    r"^etcd-(guard|quorum-guard|installer|revision-pruner|operator)-|^(installer|revision-pruner|etcd-guard|etcd-quorum-guard)-"
)
ROTATED_STAMP = re.compile(r"\.log\.(\d{8}-\d{6})")
METRIC_FILE_NAMES = ("metrics.openmetrics", "metrics.openmetrics.gz")
BUNDLE_FILE_NAMES = ("timestamp", "bundle.json", *METRIC_FILE_NAMES)
ETCD_NAMESPACES = ("openshift-etcd", "openshift-etcd-operator")
NODE_EVENTS_NAMESPACE = "default"  # where the kubelet and the machine-config daemon record node reboots
LOG_KIND_ORDER = {"rotated": 0, "previous": 1, "current": 2}


@dataclass
class LogFileRef:
    path: Path
    rel: str
    kind: str  # rotated | previous | current
    order: tuple


@dataclass
class PodDir:
    name: str
    member: str
    dir: Path
    rel: str
    yaml: Path | None = None
    logs: list[LogFileRef] = field(default_factory=list)

    @property
    def log_bytes(self) -> int:
        return sum(f.path.stat().st_size for f in self.logs)


@dataclass
class Layout:
    root: Path
    etcd_info: Path | None = None
    etcd_info_candidates: list[Path] = field(default_factory=list)
    pods: list[PodDir] = field(default_factory=list)
    timestamp_file: Path | None = None
    manifest: Path | None = None
    pod_list_yaml: Path | None = None
    clusterversion: Path | None = None  # OpenShift's ClusterVersion: the cluster's ID (gather/identity.py)
    # what OpenShift did to etcd (gather/platform.py): installer and etcd pod YAML, the etcd namespaces'
    # events, and the default namespace's (node reboots)
    platform_pod_yamls: list[Path] = field(default_factory=list)
    event_files: list[Path] = field(default_factory=list)
    node_event_files: list[Path] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def regular_file(path: Path) -> bool:
    """A file of the bundle itself: a symlink (in a directory bundle) could point anywhere on the
    support engineer's machine, and its lines would end up quoted in a report."""
    return path.is_file() and not path.is_symlink()


def member_of_pod(pod: str) -> str:
    """``etcd-<node>`` → ``<node>``: members are named after their node, not their IP."""
    return pod[len("etcd-") :] if pod.startswith("etcd-") else pod


def is_member_pod(pod: str) -> bool:
    return pod.startswith("etcd-") and not NOT_MEMBER_PODS.search(pod)


def _log_files(pod_dir: Path, root: Path) -> list[LogFileRef]:
    logs_dir = pod_dir / "etcd" / "etcd" / "logs"
    if not logs_dir.is_dir():
        return []
    found: list[LogFileRef] = []
    plain = {p.name: p for p in logs_dir.iterdir() if regular_file(p)}
    for kind in ("previous", "current"):
        main = plain.get(f"{kind}.log")
        insecure = plain.get(f"{kind}.insecure.log")
        # The insecure variant is oc's retry; it only matters when the first fetch came back empty.
        chosen = main if main is not None and main.stat().st_size > 0 else insecure
        if chosen is None and main is not None:
            chosen = main
        if chosen is not None:
            found.append(LogFileRef(chosen, chosen.relative_to(root).as_posix(), kind, (LOG_KIND_ORDER[kind], "")))
    rotated_dir = logs_dir / "rotated"
    if rotated_dir.is_dir():
        for p in rotated_dir.iterdir():
            if regular_file(p) and (p.name.endswith(".log") or ".log." in p.name):
                stamp = ROTATED_STAMP.search(p.name)
                key = (LOG_KIND_ORDER["rotated"], stamp.group(1) if stamp else "", p.name)
                found.append(LogFileRef(p, p.relative_to(root).as_posix(), "rotated", key))
    return sorted(found, key=lambda f: f.order)


LOG_PATH = re.compile(
    r"(?:^|/)pods/(?P<pod>[^/]+)/etcd/etcd/logs/(?:(?P<kind>current|previous)(?:\.insecure)?\.log|rotated/(?P<rot>[^/]+))$"
)


def log_kind_of(rel: str) -> str | None:
    """``current``, ``previous`` or ``rotated`` when a bundle path is one that ``discover`` may take as a
    member's etcd log (the same shapes ``_log_files`` looks for), else None."""
    m = LOG_PATH.search(rel)
    if m is None or not is_member_pod(m.group("pod")):
        return None
    if m.group("kind"):
        return m.group("kind")
    name = m.group("rot")
    return "rotated" if name.endswith(".log") or ".log." in name else None


def may_hold_etcd_data(rel: str) -> bool:
    """Whether an archive member can be a file that ``discover`` or a reader looks at: an etcd pod's
    logs and YAML, the openshift-etcd namespace, ``etcd_info``, metrics, the collection time. The rest of
    a whole-cluster must-gather (audit logs, every other namespace: most of its bytes) is not unpacked."""
    parts = rel.split("/")
    dirs, name = parts[:-1], parts[-1]
    if "etcd_info" in dirs or "openshift-etcd" in dirs or name in BUNDLE_FILE_NAMES or name.endswith(".prom"):
        return True
    if _is_event_file(dirs, name) or is_clusterversion(dirs, name):
        return True
    return any(d == "pods" and is_member_pod(pod) for d, pod in pairwise(dirs))


def _is_event_file(dirs: list[str], name: str) -> bool:
    """``namespaces/<ns>/core/events.yaml`` of the etcd namespaces or of ``default`` (node events)."""
    return (
        name == "events.yaml"
        and len(dirs) >= 3
        and dirs[-1] == "core"
        and dirs[-3] == "namespaces"
        and dirs[-2] in (*ETCD_NAMESPACES, NODE_EVENTS_NAMESPACE)
    )


def discover(root: Path) -> Layout:
    layout = Layout(root=root)
    pods: dict[str, PodDir] = {}
    timestamps: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        if here.name == "etcd_info":
            layout.etcd_info_candidates.append(here)
        if "bundle.json" in filenames and layout.manifest is None and regular_file(here / "bundle.json"):
            layout.manifest = here / "bundle.json"
        for name in CLUSTERVERSION_FILES:  # version.yaml, the object itself, before an older List
            found = name in filenames and is_clusterversion(list(here.parts), name) and regular_file(here / name)
            if found and (layout.clusterversion is None or name == "version.yaml"):
                layout.clusterversion = here / name
        if "timestamp" in filenames and regular_file(here / "timestamp"):
            timestamps.append(here / "timestamp")
        if (
            here.name == "core"
            and "pods.yaml" in filenames
            and here.parent.name == "openshift-etcd"
            and regular_file(here / "pods.yaml")
        ):
            layout.pod_list_yaml = here / "pods.yaml"
            layout.platform_pod_yamls.append(here / "pods.yaml")
        if (
            "events.yaml" in filenames
            and _is_event_file(list(here.parts), "events.yaml")
            and regular_file(here / "events.yaml")
        ):
            target = layout.node_event_files if here.parent.name == NODE_EVENTS_NAMESPACE else layout.event_files
            target.append(here / "events.yaml")
        if here.parent.name == "pods" and here.parent.parent.name == "openshift-etcd":
            pod_yaml = here / f"{here.name}.yaml"
            if (here.name.startswith("installer-") or is_member_pod(here.name)) and regular_file(pod_yaml):
                layout.platform_pod_yamls.append(pod_yaml)
        if here.parent.name == "pods" and is_member_pod(here.name):
            logs = _log_files(here, root)
            yaml_path = here / f"{here.name}.yaml"
            pod = PodDir(
                name=here.name,
                member=member_of_pod(here.name),
                dir=here,
                rel=here.relative_to(root).as_posix(),
                yaml=yaml_path if regular_file(yaml_path) else None,
                logs=logs,
            )
            previous = pods.get(here.name)
            # The same pod may appear under several image directories: keep the copy with most logs.
            if previous is None or pod.log_bytes > previous.log_bytes:
                pods[here.name] = pod
    layout.pods = [pods[k] for k in sorted(pods)]
    if timestamps:
        layout.timestamp_file = min(timestamps, key=lambda p: (len(p.parts), str(p)))
    layout.etcd_info = _best_etcd_info(layout.etcd_info_candidates)
    return layout


def _best_etcd_info(candidates: list[Path]) -> Path | None:
    def score(p: Path) -> tuple:
        member_list = p / "member_list.json"
        size = member_list.stat().st_size if regular_file(member_list) else -1
        return (size > 2, sum(1 for _ in p.iterdir()), -len(p.parts), str(p))

    return max(candidates, key=score) if candidates else None
