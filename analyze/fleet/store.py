"""The fleet store: many bundles' analyses as plain Parquet, hive-partitioned by cluster.

    STORE/<table>/cluster=<cluster key>/<bundle id>.parquet

Tables: ``bundles`` (one row per bundle, ``ok`` or ``failed``), ``members``, ``kpis`` (the analysis'
KPI table), ``measures`` (compare's KPI values, the series history draws), ``findings``, ``elections``,
``rollouts``, ``minutes`` (per-minute p99 per member and histogram) and ``analyses`` (each bundle's
analysis.json, so history can run the compare engine between any two bundles). Any Parquet reader
reads it: ``pl.scan_parquet("STORE/kpis/**/*.parquet", hive_partitioning=True)`` or DuckDB's
``read_parquet('STORE/kpis/**/*.parquet', hive_partitioning = true)``.

A bundle's id is the SHA-256 of its content and the tool version: the same bundle analysed by the same
etcd-perf is stored once. Each file is written to a temporary name and renamed into place, and the
``bundles`` row last: a bundle counts as stored only once its ``bundles`` file exists, so a task killed
half-way leaves nothing a reader sees, and its retry rewrites the same file names (no duplicates).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import orjson
import polars as pl

from etcd_perf.analyze.compare.engine import kpi_values
from etcd_perf.analyze.model import TOOL_VERSION

TABLES = ("bundles", "members", "kpis", "measures", "findings", "elections", "rollouts", "minutes", "analyses")
UNKNOWN_CLUSTER = "unknown"
HASH_BLOCK = 1 << 20

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "bundles": {
        "bundle_id": pl.String,
        "content_hash": pl.String,
        "tool_version": pl.String,
        "path": pl.String,
        "cluster_key": pl.String,
        "openshift_cluster_id": pl.String,
        "etcd_cluster_id": pl.String,
        "cluster_name": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "window_start": pl.Datetime("us", "UTC"),
        "window_end": pl.Datetime("us", "UTC"),
        "etcd_version": pl.String,
        "status": pl.String,
        "exit_code": pl.Int64,
        "error": pl.String,
        "health": pl.String,
        "headline": pl.String,
    },
    "members": {
        "bundle_id": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "member": pl.String,
        "member_id": pl.String,
        "is_leader": pl.Boolean,
        "version": pl.String,
        "db_size_bytes": pl.Int64,
        "db_in_use_bytes": pl.Int64,
        "db_quota_bytes": pl.Int64,
        "fragmentation_pct": pl.Float64,
        "raft_term": pl.Int64,
        "restarts": pl.Int64,
    },
    "kpis": {
        "bundle_id": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "kpi": pl.String,
        "member": pl.String,
        "value": pl.Float64,
        "unit": pl.String,
        "threshold": pl.Float64,
        "status": pl.String,
        "source": pl.String,
    },
    "measures": {
        "bundle_id": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "kpi": pl.String,
        "member": pl.String,
        "name": pl.String,
        "unit": pl.String,
        "subsystem": pl.String,
        "value": pl.Float64,
    },
    "findings": {
        "bundle_id": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "finding": pl.String,
        "member": pl.String,
        "severity": pl.String,
        "subsystem": pl.String,
        "message": pl.String,
    },
    "elections": {
        "bundle_id": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "term": pl.Int64,
        "ts": pl.Datetime("us", "UTC"),
        "leader": pl.String,
        "previous_leader": pl.String,
        "in_window": pl.Boolean,
        "cause": pl.String,
        "planned": pl.Boolean,
    },
    "rollouts": {
        "bundle_id": pl.String,
        "collected_at": pl.Datetime("us", "UTC"),
        "revision": pl.Int64,
        "node": pl.String,
        "member": pl.String,
        "started": pl.Datetime("us", "UTC"),
        "stopped": pl.Datetime("us", "UTC"),
        "finished": pl.Datetime("us", "UTC"),
        "installer": pl.String,
    },
    "minutes": {
        "bundle_id": pl.String,
        "member": pl.String,
        "histogram": pl.String,
        "minute_end": pl.Datetime("us", "UTC"),
        "p99_ms": pl.Float64,
    },
    "analyses": {"bundle_id": pl.String, "analysis": pl.String},
}
HISTOGRAMS = ("wal_fsync", "backend_commit", "peer_rtt", "grpc_unary")


def content_hash(path: Path) -> str:
    """SHA-256 of a bundle: an archive's bytes, or a directory's relative paths and file contents in order
    (symlinks by their target text, never followed)."""
    h = hashlib.sha256()
    if path.is_file():
        _feed(h, path)
        return h.hexdigest()
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            f = Path(dirpath) / name
            rel = f.relative_to(path).as_posix().encode("utf-8", "surrogateescape")
            h.update(len(rel).to_bytes(8, "big") + rel)
            if f.is_symlink():
                h.update(b"L" + os.readlink(f).encode("utf-8", "surrogateescape"))
            elif f.is_file():
                h.update(b"F" + f.stat().st_size.to_bytes(8, "big"))
                _feed(h, f)
    return h.hexdigest()


def _feed(h: hashlib._Hash, f: Path) -> None:
    with open(f, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            h.update(block)


def bundle_id(digest: str, version: str = TOOL_VERSION) -> str:
    return f"{digest[:32]}-{re.sub(r'[^A-Za-z0-9.]+', '_', version)}"


def cluster_key(identity: dict | None) -> str:
    """The partition a bundle goes in: OpenShift's cluster ID, else etcd's, else ``unknown``."""
    identity = identity or {}
    key = identity.get("openshift_cluster_id") or (
        f"etcd-{identity['etcd_cluster_id']}" if identity.get("etcd_cluster_id") else None
    )
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key) if key else UNKNOWN_CLUSTER


def is_stored(store: Path, bid: str) -> bool:
    return any((store / "bundles").glob(f"cluster=*/{bid}.parquet"))


def _ts(text: str | None) -> object:
    if not text:
        return None
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _int(v: object) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) and v == v else None


def rows_of(analysis: dict, bid: str, digest: str, path: str) -> dict[str, list[dict]]:
    """Every table's rows for one analysed bundle."""
    ident = (analysis.get("cluster") or {}).get("identity") or {}
    at = _ts((analysis.get("bundle") or {}).get("collected_at"))
    window = analysis.get("window") or {}
    versions = sorted({str(m["version"]) for m in analysis.get("members") or [] if m.get("version")})
    out: dict[str, list[dict]] = {t: [] for t in TABLES}
    out["bundles"].append(
        {
            "bundle_id": bid,
            "content_hash": digest,
            "tool_version": TOOL_VERSION,
            "path": path,
            "cluster_key": cluster_key(ident),
            "openshift_cluster_id": ident.get("openshift_cluster_id"),
            "etcd_cluster_id": ident.get("etcd_cluster_id"),
            "cluster_name": ident.get("name"),
            "collected_at": at,
            "window_start": _ts(window.get("start")),
            "window_end": _ts(window.get("end")),
            "etcd_version": ", ".join(versions) or None,
            "status": "ok",
            "exit_code": _int(analysis.get("exit_code")),
            "error": None,
            "health": analysis.get("status"),
            "headline": (analysis.get("summary") or {}).get("headline"),
        }
    )
    for m in analysis.get("members") or []:
        out["members"].append(
            {
                "bundle_id": bid,
                "collected_at": at,
                "member": m.get("name"),
                "member_id": m.get("id"),
                "is_leader": bool(m.get("is_leader")),
                "version": m.get("version"),
                "db_size_bytes": _int(m.get("db_size_bytes")),
                "db_in_use_bytes": _int(m.get("db_in_use_bytes")),
                "db_quota_bytes": _int(m.get("db_quota_bytes")),
                "fragmentation_pct": m.get("fragmentation_pct"),
                "raft_term": _int(m.get("raft_term")),
                "restarts": _int(m.get("restarts")),
            }
        )
        for key in HISTOGRAMS:
            for p in (m.get(key) or {}).get("minutes") or []:
                out["minutes"].append(
                    {
                        "bundle_id": bid,
                        "member": m.get("name"),
                        "histogram": key,
                        "minute_end": _ts(p.get("minute_end")),
                        "p99_ms": p.get("p99_ms"),
                    }
                )
    for k in analysis.get("kpis") or []:
        value = k.get("value")
        out["kpis"].append(
            {
                "bundle_id": bid,
                "collected_at": at,
                "kpi": k.get("id"),
                "member": k.get("member"),
                "value": float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
                "unit": k.get("unit"),
                "threshold": k.get("threshold"),
                "status": k.get("status"),
                "source": k.get("source"),
            }
        )
    for v in kpi_values(analysis):
        out["measures"].append({"bundle_id": bid, "collected_at": at, **v})
    for f in analysis.get("findings") or []:
        out["findings"].append(
            {
                "bundle_id": bid,
                "collected_at": at,
                "finding": f.get("id"),
                "member": f.get("member"),
                "severity": f.get("severity"),
                "subsystem": f.get("subsystem"),
                "message": f.get("message"),
            }
        )
    for e in (analysis.get("cluster") or {}).get("elections") or []:
        cause = e.get("cause") or {}
        out["elections"].append(
            {
                "bundle_id": bid,
                "collected_at": at,
                "term": _int(e.get("term")),
                "ts": _ts(e.get("ts")),
                "leader": e.get("leader"),
                "previous_leader": e.get("previous_leader"),
                "in_window": bool(e.get("in_window")),
                "cause": cause.get("cause"),
                "planned": bool(cause.get("planned")),
            }
        )
    for r in analysis.get("rollouts") or []:
        out["rollouts"].append(
            {
                "bundle_id": bid,
                "collected_at": at,
                "revision": _int(r.get("revision")),
                "node": r.get("node"),
                "member": r.get("member"),
                "started": _ts(r.get("started")),
                "stopped": _ts(r.get("stopped")),
                "finished": _ts(r.get("finished")),
                "installer": r.get("installer"),
            }
        )
    out["analyses"].append({"bundle_id": bid, "analysis": orjson.dumps(analysis, option=orjson.OPT_SORT_KEYS).decode()})
    return out


def failed_rows(bid: str, digest: str, path: str, error: str, exit_code: int = 3) -> dict[str, list[dict]]:
    row = dict.fromkeys(SCHEMAS["bundles"])
    row.update(
        bundle_id=bid,
        content_hash=digest,
        tool_version=TOOL_VERSION,
        path=path,
        cluster_key=UNKNOWN_CLUSTER,
        status="failed",
        exit_code=exit_code,
        error=error,
    )
    return {"bundles": [row]}


def write_bundle(store: Path, rows: dict[str, list[dict]]) -> None:
    """One bundle's rows, each table's file atomically, the ``bundles`` file last."""
    bid = rows["bundles"][0]["bundle_id"]
    key = rows["bundles"][0]["cluster_key"]
    for table in [*(t for t in TABLES if t != "bundles"), "bundles"]:
        part = rows.get(table)
        if not part and table != "bundles":
            continue
        frame = pl.DataFrame(part, schema=SCHEMAS[table], orient="row") if part else pl.DataFrame(schema=SCHEMAS[table])
        directory = store / table / f"cluster={key}"
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{bid}.", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
            os.replace(tmp, directory / f"{bid}.parquet")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def remove_debris(store: Path, bundle_ids: Iterable[str]) -> int:
    """Unlink the half-written files of ``bundle_ids`` (``write_bundle``'s temporary files, which a worker
    killed mid-write leaves behind; readers never see them, but they would pile up), once every task of
    those bundles has ended: each was then rewritten whole by the task's retry, or failed. Returns how
    many were removed."""
    removed = 0
    for bid in set(bundle_ids):
        for tmp in store.glob(f"*/cluster=*/.{glob.escape(bid)}.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def scan(store: Path, table: str) -> pl.LazyFrame:
    """A table of the store, only rows of bundles whose ``bundles`` row is there (never half a bundle)."""
    files = sorted((Path(store) / table).glob("cluster=*/*.parquet"))
    if not files:
        return pl.LazyFrame(schema={**SCHEMAS[table], "cluster": pl.String})
    frame = pl.scan_parquet(
        [str(f) for f in files], hive_partitioning=True, schema=SCHEMAS[table], hive_schema={"cluster": pl.String}
    )
    if table == "bundles":
        return frame
    stored = scan(store, "bundles").select("bundle_id")
    return frame.join(stored, on="bundle_id", how="semi")


def stored_ids(store: Path, statuses: Iterable[str] = ("ok", "failed")) -> set[str]:
    return set(scan(store, "bundles").filter(pl.col("status").is_in(list(statuses))).collect()["bundle_id"].to_list())
