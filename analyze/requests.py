"""Which requests are slow: resource, namespace, operation and size behind every logged slow request.

"apply request took too long" (and its capnslog wordings) carries the request in protobuf text
(``key:"/registry/pods/ns/name" range_end:"..." count_only:true``, ``txn:<compare:<...> success:<
request_put:<key:...>>>``, ``compaction:<revision:N>``...), its read-only prefix and the response
(``range_response_count:N size:M``); etcd 3.5+ "request stats" adds the gRPC method. These are parsed
with vectorised regexes and ranked. As everywhere, only requests etcd logged as slow are counted.
"""

from __future__ import annotations

import polars as pl

from etcd_perf.analyze.stats import summary_exprs, total_ms
from etcd_perf.gather.bundle import EVENT_ORDER

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
# what is kept of each request besides its text
REQUEST_ROW = ["member", "ts", "file", "line", "kind", "took_ms", "response_count", "response_size", "error"]
# the event columns the attribution reads (``Bundle.scan(..., columns=COLUMNS)``)
COLUMNS = [*REQUEST_ROW, "file_order", *REQUEST_TEXT]
SLOW_REQUEST_KINDS = ["apply_slow", "request_stats"]


def _described(texts: pl.DataFrame) -> pl.DataFrame:
    """What each distinct request text is (``text`` numbers them): operation, key, resource, namespace,
    read-only or not, and the response's count and size where the text carries them."""
    key = pl.col("request").str.extract(KEY, 1)
    response = pl.col("response").fill_null("")
    return (
        texts.lazy()
        .select(
            "text",
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
            access=pl.when(pl.col("read_only")).then(pl.lit("read-only")).otherwise(pl.lit("write")),
        )
        .drop("_stored")
        .collect()
    )


def _numbered(events: pl.DataFrame | pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The slow requests (``REQUEST_ROW``, the time-order keys they lack and ``text``, the number of their
    text), what each text is, and the keys that put the requests in time order. ``events`` may be a query
    (``Bundle.scan``, kind after kind): it is read twice and never copied whole.

    A slow cluster logs the same few requests thousands of times (lease renewals, the same lists): a 1 GiB
    bundle's 790 k slow requests had 333 distinct texts. Each is parsed once, and the rows keep only its
    number: what is ranked is grouped on numbers, and the texts of the rows (their keys alone 50 MB) are
    never built. Nothing the attribution says depends on the rows' order (its sums are exact), so they are
    not sorted: a sort of the rows was 100 MB of a 1 GiB bundle's peak."""
    rows = events.lazy().filter(pl.col("kind").is_in(SLOW_REQUEST_KINDS))
    # a parse of one file (the tests') has no file order: its lines are its order
    order = EVENT_ORDER if set(EVENT_ORDER) <= set(rows.collect_schema().names()) else ["line"]
    extra = [c for c in order if c not in REQUEST_ROW]
    texts = rows.select(REQUEST_TEXT).unique().collect().with_row_index("text")
    described = _described(texts)
    # streamed; a join keeps the left rows' order
    reqs = (
        rows.select(*dict.fromkeys([*REQUEST_ROW, *order, *REQUEST_TEXT]))
        .join(texts.lazy(), on=REQUEST_TEXT, how="left", nulls_equal=True, maintain_order="left")
        .join(described.lazy().select("text", "_count", "_size"), on="text", how="left", maintain_order="left")
        .select(
            *[c for c in REQUEST_ROW if c not in ("response_count", "response_size")],
            *extra,
            "text",
            pl.coalesce("_count", "response_count").alias("response_count"),
            pl.coalesce("_size", "response_size").alias("response_size"),
        )
        .collect(engine="streaming")
    )
    return reqs, described.drop("_count", "_size"), order


def slow_requests(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per logged slow request, in time order, with what it was: operation, resource, namespace,
    sizes."""
    reqs, described, order = _numbered(events)
    in_order = reqs.sort(order, nulls_last=True, maintain_order=True)
    return in_order.join(described, on="text", how="left", maintain_order="left").select(
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
        "response_count",
        "response_size",
        "error",
    )


def _ranked(frame: pl.DataFrame, by: str, names: pl.Series | None = None) -> list[dict]:
    """The top ``by`` by time lost. With ``names``, ``by`` holds numbers: the rank of each value among
    ``names`` (sorted), so the order of ties is the values' own."""
    if frame.height == 0:
        return []
    out = (
        frame.lazy()
        .select(by, "took_ms", "response_size", "response_count")
        .group_by(by)
        .agg(
            *summary_exprs("took_ms"),
            total_ms(pl.col("took_ms")).alias("total_ms"),
            pl.col("response_size").max().alias("max_response_size"),
            pl.col("response_count").max().alias("max_response_count"),
        )
        .sort(["total_ms", by], descending=[True, False], nulls_last=True)
        .head(TOP_N)
        .collect(engine="in-memory")
    )
    return [
        {
            by: r[by] if names is None else names[r[by]],
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


def _ranked_by_text(reqs: pl.DataFrame, described: pl.DataFrame, column: str) -> list[dict]:
    """``_ranked`` by a column of what the texts are (resource, namespace...), on numbers; requests whose
    text has no value there (a key outside /registry has no namespace) are left out."""
    names = described.get_column(column).drop_nulls().unique().sort()
    ranks = pl.int_range(names.len(), dtype=pl.UInt32, eager=True)
    rank = described.select("text", pl.col(column).replace_strict(names, ranks, default=None))
    coded = reqs.select(
        pl.col("text").replace_strict(rank["text"], rank[column], default=None).alias(column),
        "took_ms",
        "response_size",
        "response_count",
    )
    return _ranked(coded.filter(pl.col(column).is_not_null()), column, names)


def attribution(events: pl.DataFrame | pl.LazyFrame) -> dict:
    """Top slow requests by resource, namespace, operation, read/write and member (ranked by time lost)."""
    reqs, described, order = _numbered(events)
    # only the requests that can be among the slowest are sorted (a sort of every row's keys was 100 MB of a
    # 1 GiB bundle's peak), and only those shown are named; ties in time taken go in time order
    shown = ["member", "ts", "took_ms", "text", "response_count", "response_size", "error", "file", "line"]
    cut, timed = reqs.select(pl.col("took_ms").top_k(TOP_N).min().alias("cut"), pl.col("took_ms").count()).row(0)
    candidates = reqs.filter(pl.col("took_ms") >= cut) if timed >= TOP_N else reqs
    slowest = (
        candidates.select(*dict.fromkeys([*shown, *order]))
        .sort(["took_ms", *order], descending=[True] + [False] * len(order), nulls_last=True)
        .head(TOP_N)
        .join(described.select("text", "operation", "key"), on="text", how="left", maintain_order="left")
    )
    return {
        "count": reqs.height,
        "note": "requests etcd logged as slow (over their expected duration, default 100 ms; "
        "request stats over 300 ms)",
        "by_resource": _ranked_by_text(reqs, described, "resource"),
        "by_namespace": _ranked_by_text(reqs, described, "namespace"),
        "by_operation": _ranked_by_text(reqs, described, "operation"),
        "by_access": _ranked_by_text(reqs, described, "access"),
        "by_member": _ranked(reqs, "member"),
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
