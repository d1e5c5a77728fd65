"""What an etcd pod's YAML says about tuning and restarts.

OpenShift configures etcd through environment variables on the ``etcd`` container (heartbeat,
election timeout, backend quota, slow-apply warning), and the pod status counts restarts. These
explain thresholds the logs assume (the heartbeat warning fires at 2x the heartbeat interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from etcd_perf.gather.yamlio import safe_yaml

TUNING_ENV = (
    "ETCD_HEARTBEAT_INTERVAL",
    "ETCD_ELECTION_TIMEOUT",
    "ETCD_QUOTA_BACKEND_BYTES",
    "ETCD_WARNING_APPLY_DURATION",
    "ETCD_EXPERIMENTAL_WARNING_APPLY_DURATION",
    "ETCD_SNAPSHOT_COUNT",
)


@dataclass
class PodSpec:
    name: str
    node: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    restart_count: int | None = None
    last_terminated: dict[str, str] = field(default_factory=dict)
    phase: str | None = None


def _etcd_container(containers: object) -> dict | None:
    if not isinstance(containers, list):
        return None
    for c in containers:
        if isinstance(c, dict) and c.get("name") == "etcd":
            return c
    return None


def pod_spec_from_obj(obj: dict) -> PodSpec | None:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name")
    if not isinstance(name, str):
        return None
    spec_d = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    pod = PodSpec(name=name, node=spec_d.get("nodeName") if isinstance(spec_d.get("nodeName"), str) else None)
    pod.phase = status.get("phase") if isinstance(status.get("phase"), str) else None
    container = _etcd_container(spec_d.get("containers"))
    if container:
        envs = container.get("env")
        for env in envs if isinstance(envs, list) else []:
            if isinstance(env, dict) and env.get("name") in TUNING_ENV and env.get("value") is not None:
                pod.env[str(env["name"])] = str(env["value"])
    cstatus = _etcd_container(status.get("containerStatuses"))
    if cstatus:
        rc = cstatus.get("restartCount")
        pod.restart_count = rc if isinstance(rc, int) and not isinstance(rc, bool) else None
        last = cstatus.get("lastState") if isinstance(cstatus.get("lastState"), dict) else {}
        term = last.get("terminated") if isinstance(last.get("terminated"), dict) else {}
        pod.last_terminated = {k: str(term[k]) for k in ("reason", "exitCode", "startedAt", "finishedAt") if k in term}
    return pod


MAX_POD_YAML_BYTES = 64 << 20  # a pod, or a namespace's PodList, is kilobytes to a few MB


def _read_yaml(path: Path) -> object:
    """The document, or ValueError with why not (too big, invalid, nested too deep, a bad timestamp)."""
    size = path.stat().st_size
    if size > MAX_POD_YAML_BYTES:
        raise ValueError(f"{size} bytes, over the {MAX_POD_YAML_BYTES >> 20} MiB read")
    try:
        return safe_yaml(path.read_bytes().decode("utf-8", errors="replace"))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise ValueError(f"invalid YAML ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from exc


def read_pod_spec(path: Path) -> tuple[PodSpec | None, str | None]:
    """The pod spec, or a problem note when the YAML cannot be read."""
    try:
        obj = _read_yaml(path)
    except ValueError as exc:
        return None, f"{path.name}: {exc}"
    if not isinstance(obj, dict):
        return None, f"{path.name}: not a pod object"
    return pod_spec_from_obj(obj), None


def read_pod_list(path: Path) -> dict[str, PodSpec]:
    """Pods from ``core/pods.yaml`` (a PodList), for bundles that lack the per-pod YAML."""
    try:
        obj = _read_yaml(path)
    except ValueError:
        return {}
    items = obj.get("items") if isinstance(obj, dict) else None
    pods: dict[str, PodSpec] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            pod = pod_spec_from_obj(item)
            if pod:
                pods[pod.name] = pod
    return pods
