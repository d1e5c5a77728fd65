"""etcd log lines to typed events, in bulk, with polars expressions only.

One lazy query per file: strip the kubelet / CRI-O prefix, join CRI partial (``P``) chunks,
classify each line's format (zap JSON, capnslog, raft's stdlib logger, journald/syslog text,
or stray), keep only the lines that contain a catalogue needle, and extract each message's
fields with the catalogue's regexes and JSON keys. There is no Python loop over lines: the
loops below run over catalogue entries and fields, a few dozen at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gather.catalogue import Catalogue, MessageRule
from gather.durations import duration_ms
from gather.timestamps import DT, capnslog_ts, iso_ts, raft_stdlib_ts

# `oc logs --timestamps` / must-gather prefix (RFC3339Nano) and raw CRI-O files (stream + F|P tag).
KUBELET_PREFIX = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (?:(?:stdout|stderr) ([FP]) )?"
# journald / syslog: "May 31 22:25:18 host etcd[19731]: ..." (no year: the inner line's time is used)
SYSLOG_PREFIX = r"^[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \S+ [\w.\-/]+(?:\[\d+\])?: "
CAPNSLOG = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ([CEWNIDT]) \| ([\w/.\-]+): (.*)$"
RAFT_STDLIB = r"^raft ?(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) ([A-Z]+): (.*)$"

CAPNSLOG_LEVELS = {"C": "fatal", "E": "error", "W": "warn", "N": "info", "I": "info", "D": "debug", "T": "debug"}
EXCERPT_CHARS = 600

BASE_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.UInt64(),
    "ts": DT,
    "level": pl.String(),
    "fmt": pl.String(),
    "kind": pl.String(),
    "subsystem": pl.String(),
    "excerpt": pl.String(),
}


def event_schema(catalogue: Catalogue) -> dict[str, pl.DataType]:
    """Columns of an events frame: the base columns, then every catalogue field, typed."""
    schema = dict(BASE_SCHEMA)
    for name in sorted(catalogue.fields):
        schema[name] = catalogue.dtype(name)
    return schema


@dataclass
class LineStats:
    """What one file held, for the data-quality report: nothing is dropped silently."""

    lines: int = 0
    by_format: dict[str, int] | None = None
    unparsed: int = 0
    joined_partials: int = 0
    invalid_json: int = 0
    first_ts: object = None
    last_ts: object = None


def _strip_prefix(lf: pl.LazyFrame, join_partials: bool) -> pl.LazyFrame:
    line = pl.col("raw")
    lf = lf.with_columns(
        pts=line.str.extract(KUBELET_PREFIX, 1),
        tag=line.str.extract(KUBELET_PREFIX, 2),
        body=line.str.replace(KUBELET_PREFIX, ""),
    )
    if join_partials:
        # A CRI "P" chunk continues on the next physical line; the logical line ends at an "F".
        continues = pl.col("tag").shift(1).fill_null("F") == "P"
        lf = (
            lf.with_columns(_grp=(~continues).cum_sum())
            .group_by("_grp", maintain_order=True)
            .agg(
                pl.col("line").first(),
                pl.col("pts").first(),
                pl.col("tag").last(),
                pl.col("body").str.join(""),
                pl.col("raw").first(),
                _chunks=pl.len(),
            )
            .drop("_grp")
        )
    return lf


def _classify(lf: pl.LazyFrame) -> pl.LazyFrame:
    body = pl.col("body")
    syslog = body.str.contains(SYSLOG_PREFIX)
    inner = pl.when(syslog).then(body.str.replace(SYSLOG_PREFIX, "")).otherwise(body)
    lf = lf.with_columns(inner=inner, _syslog=syslog)
    inner_c = pl.col("inner")
    fmt = (
        pl.when(inner_c.str.starts_with("{"))
        .then(pl.lit("zap"))
        .when(inner_c.str.contains(CAPNSLOG))
        .then(pl.lit("capnslog"))
        .when(inner_c.str.contains(RAFT_STDLIB))
        .then(pl.lit("raft"))
        .when(pl.col("_syslog"))
        .then(pl.lit("text"))
        .when(inner_c.str.strip_chars() == "")
        .then(pl.lit("empty"))
        .otherwise(pl.lit("other"))
    )
    return lf.with_columns(fmt=fmt)


def _text_level_ts(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Message text, level and time of each (candidate) line, by format."""
    inner = pl.col("inner")
    fmt = pl.col("fmt")
    capn = inner.str.extract_groups(CAPNSLOG)
    raft = inner.str.extract_groups(RAFT_STDLIB)
    zap_ts_text = inner.str.json_path_match("$.ts")
    zap_epoch = zap_ts_text.cast(pl.Float64, strict=False)
    zap_ts = pl.coalesce(
        iso_ts(zap_ts_text),
        pl.from_epoch((zap_epoch * 1e6).cast(pl.Int64, strict=False), time_unit="us").dt.replace_time_zone("UTC"),
    )
    text = (
        pl.when(fmt == "zap")
        .then(inner.str.json_path_match("$.msg"))
        .when(fmt == "capnslog")
        .then(capn.struct.field("4"))
        .when(fmt == "raft")
        .then(raft.struct.field("3"))
        .otherwise(inner)
    )
    level = (
        pl.when(fmt == "zap")
        .then(inner.str.json_path_match("$.level"))
        .when(fmt == "capnslog")
        .then(capn.struct.field("2").replace_strict(CAPNSLOG_LEVELS, default=None))
        .when(fmt == "raft")
        .then(raft.struct.field("2").str.to_lowercase())
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    msg_ts = (
        pl.when(fmt == "zap")
        .then(zap_ts)
        .when(fmt == "capnslog")
        .then(capnslog_ts(capn.struct.field("1")))
        .when(fmt == "raft")
        .then(raft_stdlib_ts(raft.struct.field("1")))
        .otherwise(pl.lit(None, dtype=DT))
    )
    # The kubelet prefix is UTC and monotonic per file; the message's own time is the fallback.
    ts = pl.coalesce(iso_ts(pl.col("pts")), msg_ts)
    return lf.with_columns(text=text, level=level, ts=ts)


def _rule_condition(rule: MessageRule) -> pl.Expr:
    return (
        pl.col("fmt").is_in(list(rule.formats))
        & pl.col("inner").str.contains(rule.needle, literal=True)
        & pl.col("text").str.contains(rule.match)
    )


def _typed(expr: pl.Expr, typ: str) -> pl.Expr:
    if typ == "duration":
        return duration_ms(expr)
    if typ == "uint":
        return expr.str.strip_chars().cast(pl.UInt64, strict=False)
    if typ == "int":
        return expr.str.strip_chars().cast(pl.Int64, strict=False)
    if typ == "hex":
        return expr.str.strip_chars().str.to_lowercase()
    if typ == "bool":
        return expr.str.strip_chars().str.to_lowercase() == "true"
    return expr


def _json_key(key: str) -> str:
    return f"$['{key}']" if (" " in key or "-" in key) else f"$.{key}"


def _rule_fields(rule: MessageRule, catalogue: Catalogue) -> list[pl.Expr]:
    exprs: list[pl.Expr] = []
    groups = rule.groups
    extracted = pl.col("text").str.extract_groups(rule.match) if groups else None
    for name in sorted(catalogue.fields):
        typ = catalogue.fields[name]
        sources: list[pl.Expr] = []
        if name in rule.json:
            sources.append(pl.col("inner").str.json_path_match(_json_key(rule.json[name])))
        if extracted is not None and name in groups:
            sources.append(extracted.struct.field(name))
        if not sources:
            exprs.append(pl.lit(None, dtype=catalogue.dtype(name)).alias(name))
            continue
        raw = sources[0] if len(sources) == 1 else pl.coalesce(sources)
        exprs.append(_typed(raw, typ).cast(catalogue.dtype(name), strict=False).alias(name))
    return exprs


ZAP_START = '{"level":'  # every zap line of etcd 3.4-3.6 begins with its level
PARSED_FORMATS = ["zap", "capnslog", "raft", "text"]


def _file_stats(lines: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Line counts by format without materialising the lines: zap is found by a literal, and only the
    (few) other lines are classified by regex."""
    raw = pl.col("raw")
    is_zap = raw.str.contains(ZAP_START, literal=True)
    blank = raw.str.strip_chars() == ""
    totals = lines.select(pl.len().alias("lines"), is_zap.sum().alias("zap"), blank.sum().alias("empty"))
    others = _classify(_strip_prefix(lines.filter(~is_zap & ~blank), False)).group_by("fmt").len()
    ends = pl.concat([lines.head(200), lines.tail(200)])
    ends = _text_level_ts(_classify(_strip_prefix(ends, False))).select(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
    )
    return [totals, others, ends]


def parse_lines(lines: pl.LazyFrame, catalogue: Catalogue, join_partials: bool) -> tuple[pl.DataFrame, LineStats]:
    """Typed events and line statistics of one file.

    ``lines`` has a ``line`` (1-based physical line number) and a ``raw`` (the text) column. Only lines
    holding a catalogue needle are materialised; everything else is counted inside the lazy scan.
    """
    if join_partials:
        # CRI "P" chunks must be joined before a needle can be seen whole: join, then filter
        lines = _strip_prefix(lines, True).select(
            "line",
            pl.when(pl.col("pts").is_not_null())
            .then(pl.concat_str(pl.col("pts"), pl.lit(" "), pl.col("body")))
            .otherwise(pl.col("body"))
            .alias("raw"),
            "_chunks",
        )
    else:
        lines = lines.with_columns(_chunks=pl.lit(1, dtype=pl.UInt32))
    candidates = lines.filter(pl.col("raw").str.contains_any(catalogue.needles))
    cand = _text_level_ts(
        _classify(_strip_prefix(candidates.drop("_chunks"), False)).filter(pl.col("fmt").is_in(PARSED_FORMATS))
    ).with_columns(_rule=_rule_index(catalogue))
    totals_q, others_q, ends_q = _file_stats(lines.drop("_chunks"))
    chunks_q = lines.select((pl.col("_chunks") - 1).sum().alias("joined"))
    totals, others, ends, cand, chunks = pl.collect_all([totals_q, others_q, ends_q, cand, chunks_q])

    by_format = dict(zip(others["fmt"].to_list(), others["len"].to_list(), strict=True))
    by_format.pop("empty", None)
    zap, empty = int(totals["zap"][0]), int(totals["empty"][0])
    if zap:
        by_format["zap"] = by_format.get("zap", 0) + zap
    if empty:
        by_format["empty"] = empty
    stats = LineStats(
        lines=int(totals["lines"][0]),
        by_format=dict(sorted(by_format.items())),
        unparsed=by_format.get("other", 0),
        joined_partials=int(chunks["joined"][0] or 0),
        invalid_json=int(cand.filter((pl.col("fmt") == "zap") & pl.col("text").is_null()).height),
        first_ts=ends["first"][0],
        last_ts=ends["last"][0],
    )
    if stats.first_ts is None and cand.height:
        stats.first_ts, stats.last_ts = cand["ts"].min(), cand["ts"].max()

    parts: list[pl.DataFrame] = []
    by_rule = cand.filter(pl.col("_rule").is_not_null()).partition_by("_rule", as_dict=True)
    for (idx,), rows in sorted(by_rule.items()):
        rule = catalogue.messages[idx]
        parts.append(
            rows.select(
                pl.col("line").cast(pl.UInt64),
                "ts",
                "level",
                "fmt",
                pl.lit(rule.kind).alias("kind"),
                pl.lit(rule.subsystem).alias("subsystem"),
                pl.col("inner").str.slice(0, EXCERPT_CHARS).alias("excerpt"),
                *_rule_fields(rule, catalogue),
            )
        )
    schema = event_schema(catalogue)
    if not parts:
        return pl.DataFrame(schema=schema), stats
    events = pl.concat(parts, how="vertical").select(list(schema)).sort("line")
    return events, stats


def _rule_index(catalogue: Catalogue) -> pl.Expr:
    """Index of the first catalogue entry a line matches (entries are tried in file order)."""
    chain = None
    for idx, rule in enumerate(catalogue.messages):
        cond = _rule_condition(rule)
        chain = pl.when(cond).then(pl.lit(idx)) if chain is None else chain.when(cond).then(pl.lit(idx))
    if chain is None:
        return pl.lit(None, dtype=pl.Int32)
    return chain.otherwise(pl.lit(None)).cast(pl.Int32)
