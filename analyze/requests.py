"""Which requests are slow: resource, namespace, operation and size behind every logged slow request.

"apply request took too long" (and its capnslog wordings) carries the request in protobuf text
(``key:"/registry/pods/ns/name" range_end:"..." count_only:true``, ``txn:<compare:<...> success:<
request_put:<key:...>>>``, ``compaction:<revision:N>``...), its read-only prefix and the response
(``range_response_count:N size:M``); etcd 3.5+ "request stats" adds the gRPC method. These are parsed
with vectorised regexes and ranked. As everywhere, only requests etcd logged as slow are counted.
"""

from __future__ import annotations

import polars as pl

from etcd_perf.analyze.stats import summary_exprs

KEY = r'key:\\?"([^"\\]*)'
RANGE_END = r'range_end:\\?"'
# /registry/<resource>/[<namespace>/]<name> or /kubernetes.io/...: core resources have no dot; a dotted
# first segment is an API group and the resource follows it. Services and endpoints share one prefix
# (services/specs, services/endpoints): the hottest keys of an old control plane's leader election.
STORED_AS = r"services/(?:endpoints|specs)|[^/]*\.[^/]*/[^/]+|[^/.]+"
# one regex for both: alone, a namespace pattern would read "/registry/services/endpoints/" as the
# services of namespace "endpoints"
RESOURCE_NAMESPACE = rf"^/(?:registry|kubernetes\.io)/({STORED_AS})(?:/([^/]+)/[^/]*$)?"
# Kubernetes stores a few resources under other names
RESOURCE_NAMES = {
    "services/endpoints": "endpoints",
    "services/specs": "services",
    "minions": "nodes",
    "controllers": "replicationcontrollers",
    "ingress": "ingresses",
    "podsecuritypolicy": "podsecuritypolicies",
}
TOP_N = 10


def _operation() -> pl.Expr:
    req = pl.col("request").fill_null("")
    rtype = pl.col("response_type").fill_null("")
    return (
        pl.when(req.str.contains("compaction:<", literal=True) | rtype.str.ends_with("/Compact"))
        .then(pl.lit("compaction"))
        .when(req.str.contains("lease_", literal=True) | rtype.str.contains("/Lease", literal=True))
        .then(pl.lit("lease"))
        .when(req.str.contains("txn:<", literal=True) | rtype.str.ends_with("/Txn"))
        .then(pl.lit("txn"))
        .when(req.str.contains("delete_range:<", literal=True) | rtype.str.ends_with("/DeleteRange"))
        .then(pl.lit("delete"))
        .when(req.str.contains(r"(?:^|[ <])put:<") | rtype.str.ends_with("/Put"))
        .then(pl.lit("put"))
        .when(req.str.contains("count_only:true", literal=True))
        .then(pl.lit("range (count only)"))
        .when(req.str.contains(RANGE_END))
        .then(pl.lit("range over a prefix"))
        .when(req.str.contains(r"^key:") | rtype.str.ends_with("/Range"))
        .then(pl.lit("range"))
        .otherwise(pl.lit("other"))
    )


# what a slow request's description depends on: the logged texts, never its time or member
REQUEST_TEXT = ["request", "response", "response_type", "prefix"]


def slow_requests(events: pl.DataFrame) -> pl.DataFrame:
    """One row per logged slow request with what it was: operation, resource, namespace, sizes.

    A slow cluster logs the same few requests thousands of times (lease renewals, the same lists), so
    each distinct request text is parsed once and joined back."""
    rows = events.filter(pl.col("kind").is_in(["apply_slow", "request_stats"]))
    key = pl.col("request").str.extract(KEY, 1)
    response = pl.col("response").fill_null("")
    described = (
        rows.select(REQUEST_TEXT)
        .unique()
        .lazy()
        .select(
            *REQUEST_TEXT,
            _operation().alias("operation"),
            key.alias("key"),
            key.str.extract_groups(RESOURCE_NAMESPACE).alias("_stored"),
            # the gRPC method when logged (request stats); else the read-only prefix of the apply line
            pl.when(pl.col("response_type").is_not_null())
            .then(pl.col("response_type").str.ends_with("/Range"))
            .otherwise(pl.col("prefix").fill_null("") == "read-only range ")
            .alias("read_only"),
            response.str.extract(r"range_response_count:(\d+)", 1).cast(pl.Int64, strict=False).alias("_count"),
            response.str.extract(r"size:(\d+)", 1).cast(pl.Int64, strict=False).alias("_size"),
        )
        .with_columns(
            resource=pl.col("_stored").struct.field("1").replace(RESOURCE_NAMES).fill_null("(other keys)"),
            namespace=pl.col("_stored").struct.field("2"),
        )
        .drop("_stored")
        .collect()
    )
    # streamed: the eager join held some 200 MB more of the real corpus's 420 k rows (their request texts);
    # a join keeps the left rows' order, so the result is the same
    return (
        rows.lazy()
        .select(
            "member", "ts", "file", "line", "kind", "took_ms", *REQUEST_TEXT, "response_count", "response_size", "error"
        )
        .join(described.lazy(), on=REQUEST_TEXT, how="left", nulls_equal=True, maintain_order="left")
        .select(
            "member",
            "ts",
            "file",
            "line",
            "kind",
            "took_ms",
            "operation",
            "key",
            "resource",
            "namespace",
            "read_only",
            pl.coalesce("_count", "response_count").alias("response_count"),
            pl.coalesce("_size", "response_size").alias("response_size"),
            "error",
        )
        .collect(engine="streaming")
    )


def _ranked(frame: pl.DataFrame, by: list[str]) -> list[dict]:
    if frame.height == 0:
        return []
    out = (
        frame.lazy()
        .select(*by, "took_ms", "response_size", "response_count")
        .group_by(by)
        .agg(
            *summary_exprs("took_ms"),
            pl.col("took_ms").sum().round(6).alias("total_ms"),
            pl.col("response_size").max().alias("max_response_size"),
            pl.col("response_count").max().alias("max_response_count"),
        )
        .sort(["total_ms", *by], descending=[True] + [False] * len(by), nulls_last=True)
        .head(TOP_N)
        .collect(engine="in-memory")
    )
    return [
        {
            **{k: r[k] for k in by},
            "count": r["count"],
            "p50_ms": r["p50"],
            "p99_ms": r["p99"],
            "max_ms": r["max"],
            "total_ms": r["total_ms"],
            "max_response_size": r["max_response_size"],
            "max_response_count": r["max_response_count"],
        }
        for r in out.iter_rows(named=True)
    ]


def attribution(events: pl.DataFrame) -> dict:
    """Top slow requests by resource, namespace, operation, read/write and member (ranked by time lost)."""
    reqs = slow_requests(events)
    # only the columns it shows are sorted (the order depends on the keys alone): not a copy of every text
    quoted = ["member", "ts", "took_ms", "operation", "key", "response_count", "response_size", "error", "file", "line"]
    slowest = reqs.select(quoted).sort(["took_ms", "ts"], descending=[True, False], nulls_last=True).head(TOP_N)
    return {
        "count": reqs.height,
        "note": "requests etcd logged as slow (over their expected duration, default 100 ms; "
        "request stats over 300 ms)",
        "by_resource": _ranked(reqs, ["resource"]),
        "by_namespace": _ranked(reqs.filter(pl.col("namespace").is_not_null()), ["namespace"]),
        "by_operation": _ranked(reqs, ["operation"]),
        "by_access": _ranked(
            reqs.with_columns(access=pl.when(pl.col("read_only")).then(pl.lit("read-only")).otherwise(pl.lit("write"))),
            ["access"],
        ),
        "by_member": _ranked(reqs, ["member"]),
        "slowest": [
            {
                "member": r["member"],
                "ts": r["ts"],
                "took_ms": r["took_ms"],
                "operation": r["operation"],
                "key": r["key"],
                "response_count": r["response_count"],
                "response_size": r["response_size"],
                "error": r["error"],
                "file": r["file"],
                "line": r["line"],
            }
            for r in slowest.iter_rows(named=True)
        ],
    }
