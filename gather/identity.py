"""Which cluster a bundle is of: OpenShift's ClusterVersion ``spec.clusterID`` and etcd's own cluster ID.

Two bundles are of the same cluster when these agree; compare warns, in every output, when they do not
(a before/after pair of two different clusters is a mistake a support engineer must see). must-gather
keeps the ClusterVersion at ``cluster-scoped-resources/config.openshift.io/clusterversions/version.yaml``
(older ones as a List in ``clusterversions.yaml``); collect.sh writes the same path. etcd's cluster ID
is in every response header of etcd_info (a uint64, kept exact, never through a float).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from etcd_perf.gather.etcd_info import EtcdInfo
from etcd_perf.gather.yamlio import safe_yaml

MAX_CLUSTERVERSION_BYTES = 8 * 1024 * 1024
CLUSTERVERSION_FILES = ("version.yaml", "clusterversions.yaml")


@dataclass
class Identity:
    openshift_cluster_id: str | None = None
    openshift_version: str | None = None
    etcd_cluster_id: int | None = None
    file: str | None = None
    problems: list[str] = field(default_factory=list)


def is_clusterversion(dirs: list[str], name: str) -> bool:
    """``.../config.openshift.io/clusterversions/version.yaml`` or ``.../config.openshift.io/clusterversions.yaml``."""
    if name == "version.yaml":
        return len(dirs) >= 2 and dirs[-1] == "clusterversions" and dirs[-2] == "config.openshift.io"
    return name == "clusterversions.yaml" and bool(dirs) and dirs[-1] == "config.openshift.io"


def _version_object(data: object) -> dict | None:
    if isinstance(data, dict) and data.get("kind") in ("List", "ClusterVersionList"):
        items = [i for i in data.get("items") or [] if isinstance(i, dict)]
        named = [i for i in items if (i.get("metadata") or {}).get("name") == "version"]
        return (named or items or [None])[0]
    return data if isinstance(data, dict) else None


def read_identity(clusterversion: Path | None, rel: str | None, info: EtcdInfo) -> Identity:
    ident = Identity(etcd_cluster_id=_etcd_cluster_id(info), file=rel)
    if clusterversion is None:
        return ident
    try:
        if clusterversion.stat().st_size > MAX_CLUSTERVERSION_BYTES:
            ident.problems.append(f"{rel} is over {MAX_CLUSTERVERSION_BYTES >> 20} MiB: not read")
            return ident
        obj = _version_object(safe_yaml(clusterversion.read_bytes().decode("utf-8", errors="replace")))
    except (OSError, yaml.YAMLError) as exc:
        ident.problems.append(f"{rel}: not readable as YAML ({type(exc).__name__})")
        return ident
    if obj is None:
        return ident
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    desired = status.get("desired") if isinstance(status.get("desired"), dict) else {}
    cid = spec.get("clusterID")
    ident.openshift_cluster_id = str(cid) if isinstance(cid, str) and cid else None
    version = desired.get("version")
    ident.openshift_version = str(version) if isinstance(version, str) and version else None
    return ident


def _etcd_cluster_id(info: EtcdInfo) -> int | None:
    seen = Counter(i for i in info.cluster_ids if i)
    return min(seen, key=lambda i: (-seen[i], i)) if seen else None
