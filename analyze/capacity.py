"""Capacity: how full each member's DB is, whether a defrag would help, what fills it, how fast it grows."""

from __future__ import annotations

import polars as pl

from etcd_perf.analyze.measures import ClusterView
from etcd_perf.gather.bundle import Bundle

DEFRAG_MIN_FREE_BYTES = 100 * 1024 * 1024  # cluster-etcd-operator defragments at >= 45 % and >= 100 MB
DEFRAG_MIN_FREE_PCT = 45.0


def capacity(bundle: Bundle, view: ClusterView) -> dict:
    members = []
    for m in view.members:
        s = m.signals
        size, used, quota = s["db_size_bytes"], s["db_in_use_bytes"], s["db_quota_bytes"]
        free = size - used if size is not None and used is not None else None
        members.append(
            {
                "member": m.name,
                "db_size_bytes": size,
                "db_in_use_bytes": used,
                "free_bytes": free,
                "quota_bytes": quota,
                "quota_used_pct": s["db_quota_pct"],
                "defrag_would_help": (
                    free is not None
                    and free >= DEFRAG_MIN_FREE_BYTES
                    and (s["fragmentation_pct"] or 0) >= DEFRAG_MIN_FREE_PCT
                ),
                "defrag_would_reclaim_bytes": free,
            }
        )
    compactions = (
        bundle.of("compaction_finished")
        .filter(pl.col("db_size_bytes").is_not_null())
        .sort("member", "ts")
        .with_columns(
            growth=pl.col("db_size_bytes").diff().over("member"),
            interval_s=(pl.col("ts").diff().over("member").dt.total_milliseconds() / 1000),
        )
    )
    growth = []
    for member, rows in compactions.group_by("member", maintain_order=True):
        g = rows.filter(pl.col("growth").is_not_null())
        growth.append(
            {
                "member": member[0],
                "compactions": rows.height,
                "last_db_size_bytes": rows["db_size_bytes"][-1],
                "growth_between_compactions_bytes": g["growth"].to_list()[-10:],
                "mean_growth_bytes_per_hour": (
                    float(g["growth"].sum() / g["interval_s"].sum() * 3600)
                    if g.height and g["interval_s"].sum()
                    else None
                ),
            }
        )
    counts = bundle.info.object_counts
    total = sum(c.count for c in counts)
    return {
        "members": members,
        "growth": growth,
        "object_counts_total": total if counts else None,
        "top_resources": [
            {
                "resource": c.resource,
                "count": c.count,
                "size": c.size,
                "share_pct": round(100.0 * c.count / total, 1) if total else None,
            }
            for c in counts[:10]
        ],
    }
