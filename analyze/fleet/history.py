"""A cluster's history over its bundles in the store (time = each bundle's collection time).

- every compare KPI as a series per member, with its change points (``changepoint``: E-divisive means),
  each step stated with the compare engine's verdict between the bundles on either side of it, so a
  step is named only with what the two bundles' measurements resolve;
- capacity: DB size and in-use growth per day by least squares over the bundles, and when the quota is
  reached at that rate (the etcd mixin's ``etcdExcessiveDatabaseGrowth`` and ``predict_linear`` idea,
  over bundles instead of scrapes);
- elections (unplanned and planned) and rollouts per day of window, and findings that recur.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl

from etcd_perf.analyze.compare.engine import default_settings
from etcd_perf.analyze.fleet import store as st
from etcd_perf.analyze.fleet.changepoint import change_points
from etcd_perf.analyze.fleet.segments import interval_values, segment_verdict
from etcd_perf.analyze.model import TOOL_VERSION
from etcd_perf.gather.errors import BundleError

SCHEMA = "etcd-perf/history/v1"
KINDS = {k.id: k.kind for k in default_settings().kpis}
RESOLVED = ("regressed", "improved")
DAY_S = 86_400.0
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t else None


def _slope_per_day(value: str) -> pl.Expr:
    """Least-squares slope of ``value`` against collection time, per day (``predict_linear``'s fit, over
    bundles); null with fewer than two bundles or no spread in time."""
    days = pl.col("collected_at").dt.epoch("ms").cast(pl.Float64) / (DAY_S * 1000.0)
    y = pl.col(value).cast(pl.Float64)
    known = y.is_not_null()
    x, y = days.filter(known), y.filter(known)
    var = x.var()
    return pl.when(var > 0).then(pl.cov(x, y) / var).otherwise(None)


def _capacity(members: pl.DataFrame) -> list[dict]:
    per = (
        members.sort("collected_at")
        .group_by("member", maintain_order=True)
        .agg(
            pl.len().alias("bundles"),
            pl.col("collected_at").first().alias("first"),
            pl.col("collected_at").last().alias("last"),
            pl.col("db_size_bytes").first().alias("db_size_bytes_first"),
            pl.col("db_size_bytes").drop_nulls().last().alias("db_size_bytes_last"),
            _slope_per_day("db_size_bytes").alias("db_size_growth_bytes_per_day"),
            _slope_per_day("db_in_use_bytes").alias("db_in_use_growth_bytes_per_day"),
            pl.col("db_quota_bytes").filter(pl.col("db_quota_bytes") > 0).last().alias("quota_bytes"),
        )
        .with_columns(
            days_to_quota=pl.when(
                (pl.col("db_size_growth_bytes_per_day") > 0) & pl.col("quota_bytes").is_not_null()
            ).then(
                ((pl.col("quota_bytes") - pl.col("db_size_bytes_last")) / pl.col("db_size_growth_bytes_per_day")).clip(
                    lower_bound=0.0
                )
            )
        )
        .sort("member")
    )
    out = []
    for r in per.iter_rows(named=True):
        when = r["last"] + timedelta(days=r["days_to_quota"]) if r["days_to_quota"] is not None else None
        out.append({**r, "first": _iso(r["first"]), "last": _iso(r["last"]), "quota_reached_at": _iso(when)})
    return out


def _verdict(
    kpi: str, member: str | None, left: list[dict], right: list[dict], analyses: dict, before: dict | None = None
) -> dict:
    """compare's verdict between the bundles either side of a change point, each side pooled (``before``:
    the point before the left side, where its first period began)."""
    settings = default_settings()
    spec = next(k for k in settings.kpis if k.id == kpi)
    sides = [[analyses[p["bundle_id"]] for p in side if p["bundle_id"] in analyses] for side in (left, right)]
    prior = analyses.get(before["bundle_id"]) if before is not None else None
    verdict, detail = segment_verdict(spec, member, sides[0], sides[1], settings, prior)
    return {"verdict": verdict, "judged": {k: v for k, v in detail.items() if k != "observations"}}


def _between_bundles(points: list[dict], kpi: str, member: str | None, analyses: dict[str, dict]) -> None:
    """A histogram KPI read from single scrapes is a distribution since the member started: each such
    point becomes the quantile of what was observed since the bundle before (``basis`` says which), so the
    series, its change points and the means either side of a step are of the bundles' own periods."""
    spec = next(k for k in default_settings().kpis if k.id == kpi)
    ordered = [analyses.get(p["bundle_id"]) or {} for p in points]
    for point, (value, basis) in zip(points, interval_values(spec, member, ordered), strict=True):
        if basis:
            point.update(value=value, since_start_value=point["value"], basis=basis)


def _series(measures: pl.DataFrame, bundles: pl.DataFrame, analyses: dict[str, dict], min_size: int) -> list[dict]:
    order = bundles.select("bundle_id", "collected_at").sort("collected_at", "bundle_id")
    out = []
    keyed = measures.with_columns(pl.col("member").fill_null(""))
    for (member, kpi), rows in keyed.sort("kpi", "member").group_by("member", "kpi", maintain_order=True):
        # a join keeps no order unless told: the series is in collection order
        rows = order.join(rows.drop("collected_at"), on="bundle_id", how="left", maintain_order="left")
        pts = [
            {"bundle_id": b, "collected_at": _iso(t), "value": v}
            for b, t, v in rows.select("bundle_id", "collected_at", "value").iter_rows()
        ]
        kind = KINDS.get(kpi)
        if kind == "histogram":
            _between_bundles(pts, kpi, member or None, analyses)
        known = [p for p in pts if p["value"] is not None]
        steps = []
        # sizes and percentages trend by nature (a DB grows): their history is the capacity forecast
        detect = kind in ("histogram", "minute", "rate")
        found = change_points([p["value"] for p in known], min_size=min_size) if detect else []
        # each step is judged between the segments either side of it, as the change points cut the series:
        # the bundles of an earlier or a later step are not this step's
        cuts = [0, *(cp.index for cp in found), len(known)]
        for i, cp in enumerate(found):
            left, right = known[cuts[i] : cuts[i + 1]], known[cuts[i + 1] : cuts[i + 2]]
            before, after = left[-1], right[0]
            steps.append(
                {
                    "at": after["collected_at"],
                    "bundle_before": before["bundle_id"],
                    "bundle_after": after["bundle_id"],
                    "mean_before": sum(p["value"] for p in left) / len(left),
                    "mean_after": sum(p["value"] for p in right) / len(right),
                    "p_value": cp.p_value,
                    **_verdict(kpi, member or None, left, right, analyses, known[cuts[i] - 1] if cuts[i] else None),
                }
            )
        meta = measures.filter(pl.col("kpi") == kpi).row(0, named=True)
        out.append(
            {
                "member": member or None,
                "kpi": kpi,
                "name": meta["name"],
                "unit": meta["unit"],
                "subsystem": meta["subsystem"],
                "points": pts,
                "change_points": steps,
            }
        )
    return out


def _activity(bundles: pl.DataFrame, elections: pl.DataFrame, rollouts: pl.DataFrame) -> tuple[list[dict], dict]:
    """Elections in each bundle's window (unplanned, planned) and its rollouts; per day over the windows."""
    counted = (
        elections.filter(pl.col("in_window"))
        .group_by("bundle_id")
        .agg(
            (~pl.col("planned")).sum().alias("elections_unplanned"), pl.col("planned").sum().alias("elections_planned")
        )
    )
    rolled = rollouts.group_by("bundle_id").agg(pl.len().alias("rollouts"))
    per = (
        bundles.select("bundle_id", "collected_at", "window_start", "window_end")
        .join(counted, on="bundle_id", how="left")
        .join(rolled, on="bundle_id", how="left")
        .with_columns(
            pl.col("elections_unplanned", "elections_planned", "rollouts").fill_null(0).cast(pl.Int64),
            days=(pl.col("window_end") - pl.col("window_start")).dt.total_milliseconds() / (DAY_S * 1000.0),
        )
        .sort("collected_at", "bundle_id")
    )
    timed = per.filter(pl.col("days") > 0)
    total_days = float(timed["days"].sum())

    def rate(column: str) -> float | None:
        return float(timed[column].sum()) / total_days if total_days else None

    rows = [
        {
            "bundle_id": r["bundle_id"],
            "collected_at": _iso(r["collected_at"]),
            "window_hours": r["days"] * 24 if r["days"] else None,
            "elections_unplanned": r["elections_unplanned"],
            "elections_planned": r["elections_planned"],
            "rollouts": r["rollouts"],
        }
        for r in per.iter_rows(named=True)
    ]
    per_day = {
        "window_days": total_days,
        "elections_unplanned_per_day": rate("elections_unplanned"),
        "elections_planned_per_day": rate("elections_planned"),
        "rollouts_per_day": rate("rollouts"),
    }
    return rows, per_day


def _recurring(findings: pl.DataFrame) -> list[dict]:
    if findings.height == 0:
        return []
    g = (
        findings.with_columns(rank=pl.col("severity").replace_strict(SEVERITY_RANK, default=-1))
        .group_by("finding", "member")
        .agg(
            pl.col("bundle_id").n_unique().alias("bundles"),
            pl.col("collected_at").min().alias("first"),
            pl.col("collected_at").max().alias("last"),
            pl.col("severity").sort_by("rank").last().alias("worst"),
            pl.col("message").sort_by("collected_at").last().alias("last_message"),
        )
        .filter(pl.col("bundles") >= 2)
        .sort(["bundles", "finding", "member"], descending=[True, False, False], nulls_last=True)
    )
    return [{**r, "first": _iso(r["first"]), "last": _iso(r["last"])} for r in g.iter_rows(named=True)]


def history(store: Path, cluster: str | None = None, min_size: int = 3) -> dict:
    """The history of every cluster in the store (or of ``cluster``: its key, OpenShift or etcd cluster ID)."""
    store = Path(store)
    if not (store / "bundles").is_dir():
        raise BundleError(f"--store {store}: not an etcd-perf store (no bundles/ in it)")
    bundles_all = st.scan(store, "bundles").collect()
    failed = bundles_all.filter(pl.col("status") != "ok")
    ok = bundles_all.filter(pl.col("status") == "ok")
    if cluster is not None:
        ok = ok.filter(
            (pl.col("cluster_key") == cluster)
            | (pl.col("openshift_cluster_id") == cluster)
            | (pl.col("etcd_cluster_id") == cluster)
            | (pl.col("cluster_name") == cluster)
        )
        if ok.height == 0:
            raise BundleError(f"--cluster {cluster}: no analysed bundle of that cluster in {store}")
    tables = {t: st.scan(store, t).collect() for t in ("members", "measures", "findings", "elections", "rollouts")}
    analyses_frame = st.scan(store, "analyses").collect()
    clusters = []
    for (key,), b in ok.sort("cluster_key").group_by("cluster_key", maintain_order=True):
        ids = b["bundle_id"].to_list()
        sub = {t: f.filter(pl.col("bundle_id").is_in(ids)) for t, f in tables.items()}
        analyses = {
            bid: orjson.loads(text)
            for bid, text in analyses_frame.filter(pl.col("bundle_id").is_in(ids))
            .select("bundle_id", "analysis")
            .iter_rows()
        }
        series = _series(sub["measures"], b, analyses, min_size)
        activity, per_day = _activity(b, sub["elections"], sub["rollouts"])
        last = b.sort("collected_at").row(-1, named=True)
        change = sorted(
            (
                {
                    "member": s["member"],
                    "kpi": s["kpi"],
                    "name": s["name"],
                    "unit": s["unit"],
                    "subsystem": s["subsystem"],
                    **cp,
                }
                for s in series
                for cp in s["change_points"]
            ),
            key=lambda x: (x["at"] or "", x["member"] or "", x["kpi"]),
        )
        clusters.append(
            {
                "cluster": key,
                "name": last["cluster_name"],
                "openshift_cluster_id": last["openshift_cluster_id"],
                "etcd_cluster_id": last["etcd_cluster_id"],
                "bundles": b.height,
                "first": _iso(b["collected_at"].min()),
                "last": _iso(b["collected_at"].max()),
                "latest_status": last["health"],
                "series": series,
                # a change point the compare engine resolves between the bundles either side is a step;
                # the others are within what those two bundles' measurements can tell apart
                "steps": [s for s in change if s["verdict"] in RESOLVED],
                "unresolved_change_points": [s for s in change if s["verdict"] not in RESOLVED],
                "capacity": _capacity(sub["members"]),
                "activity": activity,
                "per_day": per_day,
                "recurring_findings": _recurring(sub["findings"]),
            }
        )
    return {
        "schema": SCHEMA,
        "tool": {"name": "etcd-perf", "version": TOOL_VERSION},
        "store": str(store),
        "cluster_filter": cluster,
        "failed_bundles": [{"path": r["path"], "error": r["error"]} for r in failed.sort("path").iter_rows(named=True)],
        "clusters": clusters,
    }
