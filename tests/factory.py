"""Build must-gather trees in a temp dir from real lines, the way `oc adm must-gather` lays them out."""

from __future__ import annotations

import gzip
from pathlib import Path

from etcd_perf.analyze.measures import MemberView

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "bundles" / "sample"
LAB_34 = REPO / "tests" / "data" / "lab-3.4.23"
SHARED_LAB_35 = REPO / "tests" / "data" / "shared-lab-3.5.16"
FROZEN_FSYNC = REPO / "tests" / "data" / "lab-3.5.16-frozen-fsync"
SILENT_FREEZE = REPO / "tests" / "data" / "lab-3.4.23-silent-freeze"
HEALTHY_LEADER_FROZEN = REPO / "tests" / "data" / "lab-3.5.16-healthy-leader-frozen"
THROTTLED_LEADER_ONE_FSYNC = REPO / "tests" / "data" / "lab-3.5.16-throttled-leader-one-fsync"
FROZEN_AFTER_THROTTLE = REPO / "tests" / "data" / "lab-3.5.16-frozen-after-throttle"
QUIET_THROTTLED_FSYNC = REPO / "tests" / "data" / "lab-3.5.16-quiet-throttled-fsync"
THROTTLE_BEGAN_MID_FSYNC = REPO / "tests" / "data" / "lab-3.5.16-throttle-began-mid-fsync"
BUSY_LEADER_JITTER = REPO / "tests" / "data" / "lab-3.5.16-busy-leader-jitter"
SERIES_SCRAPES = REPO / "tests" / "data" / "lab-3.4.23-series-scrapes"
IMAGE_DIR = "quay-io-openshift-release-dev-ocp-v4-0-art-dev-sha256-" + "0" * 64


def pod_logs_dir(root: Path, member: str) -> Path:
    return root / "namespaces" / "openshift-etcd" / "pods" / f"etcd-{member}" / "etcd" / "etcd" / "logs"


def make_must_gather(
    base: Path,
    logs: dict[str, dict[str, list[str] | bytes]],
    etcd_info: dict[str, str] | None = None,
    wrapper: bool = True,
    timestamp: str | None = None,
) -> Path:
    """A must-gather tree; ``logs[member][name]`` is lines or raw bytes (``rotated/N.log.STAMP[.gz]`` allowed)."""
    top = base / "must-gather.local.5421342344627712289" if wrapper else base
    root = top / IMAGE_DIR if wrapper else base
    root.mkdir(parents=True, exist_ok=True)
    for member, files in logs.items():
        d = pod_logs_dir(root, member)
        for name, content in files.items():
            path = d / (name if name.startswith("rotated/") or name.endswith((".log", ".gz")) else f"{name}.log")
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content if isinstance(content, bytes) else ("\n".join(content) + "\n").encode("utf-8")
            if path.name.endswith(".gz"):
                data = gzip.compress(data, mtime=0)
            path.write_bytes(data)
    for name, text in (etcd_info or {}).items():
        p = root / "etcd_info" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    if timestamp is not None:
        (top / "timestamp").write_text(timestamp)
    return base


def member_view(name: str, signals: dict, restarts: list | None = None, is_leader: bool | None = None) -> MemberView:
    """A member as ``measure()`` gives it to the diagnosis, with only what a test sets: its signals and
    restarts (the diagnosis' unit tests build clusters of these)."""
    return MemberView(
        name=name,
        id=None,
        id_hex=None,
        pod=None,
        endpoint=None,
        version=None,
        is_leader=is_leader,
        is_learner=False,
        alarms=[],
        health=None,
        status=None,
        log_first=None,
        log_last=None,
        restart_times=list(restarts or []),
        restarts_in_window=list(restarts or []),
        signals=signals,
    )
