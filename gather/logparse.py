"""etcd log lines to typed events, in bulk, with polars expressions only.

One lazy query per file, or per 64 MB chunk of a big one: strip the kubelet / CRI-O prefix, join
CRI partial (``P``) chunks, classify each line's format (zap JSON, capnslog, raft's stdlib logger,
journald/syslog text, or stray), keep only the lines that contain a catalogue needle, and extract
each message's fields with the catalogue's regexes and JSON keys into one frame per event kind.
There is no Python loop over lines: the loops below run over catalogue entries and fields, a few
dozen at most.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import polars as pl

from etcd_perf.gather.catalogue import Catalogue, MessageRule
from etcd_perf.gather.durations import common_duration_ms, duration_ms
from etcd_perf.gather.pagecache import forget
from etcd_perf.gather.timestamps import DT, capnslog_ts, iso_ts, raft_stdlib_ts

# `oc logs --timestamps` / must-gather prefix (RFC3339Nano) and raw CRI-O files (stream + F|P tag).
KUBELET_PREFIX = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (?:(?:stdout|stderr) ([FP]) )?"
# journald / syslog: "May 31 22:25:18 host etcd[19731]: ..." (no year: the inner line's time is used)
SYSLOG_PREFIX = r"^[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \S+ [\w.\-/]+(?:\[\d+\])?: "
CAPNSLOG = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ([CEWNIDT]) \| ([\w/.\-]+): (.*)$"
RAFT_STDLIB = r"^raft ?(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) ([A-Z]+): (.*)$"
# the Go runtime stopping the process ("panic: runtime error: ...", "fatal error: concurrent map writes"),
# before its goroutine dump; the level says which
GO_RUNTIME = r"^(panic|fatal error): "

CAPNSLOG_LEVELS = {"C": "fatal", "E": "error", "W": "warn", "N": "info", "I": "info", "D": "debug", "T": "debug"}
EXCERPT_CHARS = 600
LONG_LINE_BYTES = 1 << 20

BASE_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.UInt64(),
    "ts": DT,
    "level": pl.String(),
    "fmt": pl.String(),
    "kind": pl.String(),
    "subsystem": pl.String(),
    "digest": pl.UInt64(),
}


def event_schema(catalogue: Catalogue, kind: str | None = None) -> dict[str, pl.DataType]:
    """Columns of an events frame: the base columns, then the fields ``kind`` fills (every catalogue
    field without a kind), typed. Events are kept one frame per kind: a wide frame would carry some
    forty mostly-null columns, and a null string still costs 16 bytes a row."""
    schema = dict(BASE_SCHEMA)
    for name in sorted(catalogue.fields) if kind is None else catalogue.kind_fields(kind):
        schema[name] = catalogue.dtype(name)
    return schema


KindFrames = dict[str, pl.DataFrame]  # event kind -> its events, with that kind's fields only


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def conform(frame: Frame, schema: dict[str, pl.DataType]) -> Frame:
    """``frame`` (or a query) with exactly ``schema``'s columns, in its order: those it lacks are null."""
    have = set(frame.collect_schema().names())
    return frame.select([pl.col(c) if c in have else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()])


def wide_events(frames: KindFrames, catalogue: Catalogue) -> pl.DataFrame:
    """All kinds in one frame with every catalogue field, in line order: the shape tests read best."""
    schema = event_schema(catalogue)
    parts = [conform(f, schema) for _, f in sorted(frames.items())]
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical").sort("line", maintain_order=True)


@dataclass
class LineStats:
    """What one file held, for the data-quality report: nothing is dropped silently."""

    lines: int = 0
    by_format: dict[str, int] | None = None
    unparsed: int = 0
    joined_partials: int = 0
    invalid_json: int = 0
    binary_lines: int = 0  # lines with NUL bytes: binary junk, not text a logger writes
    long_lines: int = 0  # over LONG_LINE_BYTES
    time_backwards: int = 0  # events dated more than a second before the event above them
    first_ts: object = None
    last_ts: object = None
    # (first line, byte offset) of each chunk a big file was parsed in: where a later read of the lines a
    # report quotes may start (``file_excerpts``); not a statistic, so no part of comparing two
    chunk_starts: tuple[tuple[int, int], ...] = field(default=(), compare=False)


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
        .when(inner_c.str.contains(GO_RUNTIME))
        .then(pl.lit("go"))
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
        .when(fmt == "go")
        .then(pl.when(inner.str.starts_with("panic")).then(pl.lit("panic")).otherwise(pl.lit("fatal")))
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


ZAP_START = '{"level":'  # every zap line of etcd 3.4-3.6 begins with its level
PARSED_FORMATS = ["zap", "capnslog", "raft", "text", "go", "shell"]


def _blank(raw: pl.Expr) -> pl.Expr:
    """Lines of whitespace only (``\\s`` is Unicode's White_Space, as ``strip_chars`` strips): a regex that
    stops at the first other character, where ``strip_chars() == ""`` makes a stripped copy of every line
    (3 against 10 ms per 32 MB, and the statistics test it twice)."""
    return raw.str.contains(r"^\s*$")


def _closed(raw: pl.Expr) -> pl.Expr:
    """Lines whose last character but whitespace is ``}`` (a zap line's JSON object closed): a regex on the
    line's end, where ``strip_chars_end().str.ends_with("}")`` copied every line (1.9 against 4.7 ms per 32 MB)."""
    return raw.str.contains(r"\}\s*$")


def _file_stats(lines: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Line counts by format without materialising the lines: zap is found by a literal, and only the
    (few) other lines are classified by regex."""
    raw = pl.col("raw")
    is_zap = raw.str.contains(ZAP_START, literal=True)
    blank = _blank(raw)
    totals = lines.select(
        pl.len().alias("lines"),
        is_zap.sum().alias("zap"),
        blank.sum().alias("empty"),
        # binary junk carries NUL bytes; a literal is found at memchr speed, a control-character class
        # costs a full regex pass over every line (0.44 s against 0.14 s per 341 MB)
        raw.str.contains("\x00", literal=True).sum().alias("binary"),
        (raw.str.len_bytes() > LONG_LINE_BYTES).sum().alias("long"),
    )
    others = _classify(_strip_prefix(lines.filter(~is_zap & ~blank), False)).group_by("fmt").len()
    ends = pl.concat([lines.head(200), lines.tail(200)])
    ends = _text_level_ts(_classify(_strip_prefix(ends, False))).select(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
    )
    return [totals, others, ends]


# zap keys read straight off the raw line: a key can only appear as a key (quotes inside values are
# escaped), and etcd's zap lines are flat, so a regex finds them without decoding the whole JSON.
ZAP_LEVEL = r'\{"level":"([A-Za-z]+)"'
ZAP_TS = r'"ts":(?:"([^"]*)"|([0-9][0-9.eE+\-]*))'
ZAP_MSG = r'"msg":"((?:[^"\\]|\\.)*)"'
JSON_STRING = r'"(?:[^"\\]|\\.)*"'
# group 1: a string's content (still escaped); group 2: an array, object, number, bool or null as written
JSON_VALUE = (
    rf'(?:"((?:[^"\\]|\\.)*)"'
    rf'|(\[(?:[^\]"]|{JSON_STRING})*\]|\{{(?:[^}}"]|{JSON_STRING})*\}}|[^",}}\]\s][^,}}\]]*))'
)


def _zap_key(key: str) -> str:
    return '"' + re.escape(key) + '":' + JSON_VALUE


def _json_text(key: str, typ: str) -> pl.Expr:
    """A zap key's value as json_path_match gives it (strings unquoted, the rest as written), except that
    escapes stay: ``unescape`` decodes them afterwards, on the few rows that have any.

    Captures over long spans are what regexes do slowest, so each type takes the cheapest reading that
    is exact for it: numbers, durations and IDs stop at the first quote, comma or brace; an array is
    everything after its key up to the line's last ``]``; only free text needs the full string grammar."""
    raw = pl.col("raw")
    if typ == "array":
        rest = raw.str.splitn(f'"{key}":', 2).struct.field("field_1")
        return pl.when(rest.str.starts_with("[")).then(rest.str.replace(r"\][^\]]*$", "]"))
    if typ != "str":
        return raw.str.extract('"' + re.escape(key) + r'":"?([^",}\]]*)', 1)
    return _json_string(key)


# a JSON string's content (still escaped) at the start of the text, and its closing quote
STRING_AT_START = r'^"((?:[^"\\]|\\.)*)"'


def _json_string(key: str, strings_only: bool = False) -> pl.Expr:
    """A free-text key's value: where the key's first occurrence holds a string (nearly always), the text
    after it is cut at the key (a literal search) and the string read by a regex anchored at its start,
    two to four times faster than searching the line with the general pattern (a slow request's request
    text runs to hundreds of bytes). Anything else (a number, a string cut short) takes the general
    pattern, on those rows only: the result is the same either way. ``strings_only``: the general pattern
    takes a string value only (``ZAP_MSG``), else any JSON value as written."""
    rest = pl.field("raw").str.splitn(f'"{key}":', 2).struct.field("field_1")
    other = pl.when(pl.field("v").is_null() & pl.field("rest").is_not_null()).then(pl.field("raw"))
    if strings_only:
        general = other.str.extract('"' + re.escape(key) + '":' + STRING_AT_START.removeprefix("^"), 1)
    else:
        general = (
            other.str.extract_groups(_zap_key(key))
            .struct.with_fields(v=pl.coalesce(pl.field("1"), pl.field("2")))
            .struct.field("v")
        )
    return (
        pl.struct(raw=pl.col("raw"))
        .struct.with_fields(rest=rest)
        .struct.with_fields(v=pl.field("rest").str.extract(STRING_AT_START, 1))
        .struct.with_fields(v=pl.coalesce(pl.field("v"), general))
        .struct.field("v")
    )


# the content of a JSON string as the grammar allows it; anything else (a damaged line) is left as read
JSON_STRING_CONTENT = r'^(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*$'


def json_unescape(text: pl.Expr) -> pl.Expr:
    """JSON escapes decoded where there are any and they are valid; other rows stay as read."""
    # the grammar check runs only on the rows holding a backslash (most hold none)
    valid = pl.when(text.str.contains("\\", literal=True)).then(text).str.contains(JSON_STRING_CONTENT)
    quoted = pl.concat_str(pl.lit('"'), pl.when(valid).then(text), pl.lit('"'))
    return pl.coalesce(quoted.str.json_decode(pl.String), text)


def _prefix_ts(raw: pl.Expr) -> pl.Expr:
    """The kubelet prefix's time. Nearly always UTC, with a ``Z`` (``oc logs``) or ``+00:00`` (CRI-O's own
    files): the text before the first space is then read by one strptime, the second only where the first
    failed; any other form (no prefix) takes the general regex path."""
    first = raw.str.split_exact(" ", 1).struct.field("field_0")
    zulu = first.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us").dt.replace_time_zone("UTC")
    return (
        pl.struct(fast=zulu, first=first, raw=raw)
        .struct.with_fields(
            fast=pl.coalesce(
                pl.field("fast"),
                pl.when(pl.field("fast").is_null())
                .then(pl.field("first"))
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us")
                .dt.convert_time_zone("UTC"),
            )
        )
        .struct.with_fields(
            ts=pl.coalesce(
                pl.field("fast"),
                iso_ts(pl.when(pl.field("fast").is_null()).then(pl.field("raw")).str.extract(KUBELET_PREFIX, 1)),
            )
        )
        .struct.field("ts")
    )


def _zap_candidates(cand: pl.LazyFrame) -> pl.LazyFrame:
    """Line number, time, level and message of zap candidates, by regex on the raw line.

    In stages, each column computed once: polars evaluates a reused sub-expression again."""
    raw = pl.col("raw")
    msg = pl.col("_msg")
    zap_ts = pl.col("_zts")
    epoch = zap_ts.struct.field("2").cast(pl.Float64, strict=False)
    return (
        cand.select(
            "line",
            "raw",
            _prefix_ts(raw).alias("ts"),
            raw.str.extract(ZAP_LEVEL, 1).alias("level"),
            _json_string("msg", strings_only=True).alias("_msg"),
        )
        # the kubelet prefix is UTC and monotonic per file; zap's own time is read only where there is
        # none (the text is masked first: a when/then would run the regex on every row anyway)
        .with_columns(_zts=pl.when(pl.col("ts").is_null()).then(raw).str.extract_groups(ZAP_TS))
        .select(
            "line",
            pl.coalesce(
                "ts",
                iso_ts(zap_ts.struct.field("1")),
                pl.from_epoch((epoch * 1e6).cast(pl.Int64, strict=False), time_unit="us").dt.replace_time_zone("UTC"),
            ).alias("ts"),
            "level",
            pl.lit("zap").alias("fmt"),
            json_unescape(msg).alias("text"),
            "raw",
            # a line cut short (in transit, or by a log rotation) no longer closes its JSON object
            (msg.is_null() | ~_closed(raw)).alias("_broken"),
        )
    )


def _text_candidates(cand: pl.LazyFrame) -> pl.LazyFrame:
    """The same columns for capnslog, raft stdlib and syslog lines (rare today: the general path)."""
    # a candidate of no logger's format may be the container's shell preamble: catalogue entries of the
    # "shell" format claim the lines they know; the rest stay stray lines
    fmt = pl.col("fmt")
    lf = _classify(_strip_prefix(cand, False)).with_columns(
        fmt=pl.when(fmt == "other").then(pl.lit("shell")).otherwise(fmt)
    )
    lf = _text_level_ts(lf.filter(fmt.is_in(PARSED_FORMATS)))
    return lf.select("line", "ts", "level", "fmt", "text", pl.col("inner").alias("raw"), _broken=pl.lit(False))


def _assign_rules(cand: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """Each candidate's catalogue entry: the first, in file order, whose needle is in the message (or, for
    an entry matched by level, whose levels include the line's), whose formats include the line's and whose
    regex matches. Each regex runs only on lines holding its needle."""
    table = pl.DataFrame(
        [(m.needle, fmt, idx) for idx, m in enumerate(catalogue.messages) if not m.levels for fmt in m.formats],
        schema={"needle": pl.String, "fmt": pl.String, "_rule": pl.Int32},
        orient="row",
    )
    by_level = pl.DataFrame(
        [(level, fmt, idx) for idx, m in enumerate(catalogue.messages) for level in m.levels for fmt in m.formats],
        schema={"level": pl.String, "fmt": pl.String, "_rule": pl.Int32},
        orient="row",
    )
    # the entry depends on the message, format and level alone, and most messages repeat (a slow cluster
    # logs "apply request took too long" thousands of times): each distinct triple is matched once
    keys = ["fmt", "level", "text"]
    pairs = cand.select(keys).unique().with_row_index("_pair")
    hits = pl.concat(
        [
            pairs.with_columns(needle=pl.col("text").str.extract_many(catalogue.message_needles, overlapping=True))
            .explode("needle")
            .filter(pl.col("needle").is_not_null())
            .unique(["_pair", "needle"])
            .join(table, on=["needle", "fmt"])
            .select("_pair", "text", "_rule"),
            pairs.join(by_level, on=["level", "fmt"]).select("_pair", "text", "_rule"),
        ]
    )
    matched = pl.collect_all(
        [
            rows.lazy().filter(pl.col("text").str.contains(catalogue.messages[idx].match)).select("_pair", "_rule")
            for (idx,), rows in hits.partition_by("_rule", as_dict=True).items()
        ]
    )
    if not matched:
        return cand.clear().with_columns(_rule=pl.lit(None, dtype=pl.Int32))
    first = pairs.join(pl.concat(matched).group_by("_pair").agg(pl.col("_rule").min()), on="_pair", how="inner").select(
        *keys, "_rule"
    )
    # joined on the message alone: the wide frame (raw text) is not copied
    rule = cand.select(keys).join(first, on=keys, how="left", maintain_order="left", nulls_equal=True)["_rule"]
    return cand.with_columns(rule).filter(pl.col("_rule").is_not_null())


def _rule_sources(rule: MessageRule, types: dict[str, str]) -> list[pl.Expr]:
    """Stage 1: the raw text of each field the rule fills, one column each (``_j_*``, ``_g``)."""
    # a duration's text stays escaped here: its common form holds no backslash, and the rest is unescaped
    # (a "µ" written "\u00b5" by a log shipper re-encoding the line) where stage 3 reads it
    exprs = [_json_text(key, types[name]).alias(f"_j_{name}") for name, key in sorted(rule.json.items())]
    if rule.groups:
        exprs.append(pl.col("text").str.extract_groups(rule.match).alias("_g"))
    return exprs


def _rule_fields(rule: MessageRule, catalogue: Catalogue) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Stage 2: the fields of the rule's kind, typed, from the stage-1 columns (null where the rule has none);
    and, for stage 3, each duration's text where its common form did not read it (``_d_*``, for
    ``_rest_of_durations``)."""
    exprs: list[pl.Expr] = []
    rest: list[pl.Expr] = []
    for name in catalogue.kind_fields(rule.kind):
        typ = catalogue.fields[name]
        json = pl.col(f"_j_{name}") if name in rule.json else None
        group = pl.col("_g").struct.field(name) if rule.groups and name in rule.groups else None
        sources = [s for s in (json, group) if s is not None]
        if not sources:
            exprs.append(pl.lit(None, dtype=catalogue.dtype(name)).alias(name))
            continue
        raw = sources[0] if len(sources) == 1 else pl.coalesce(sources)
        if typ != "duration":
            exprs.append(_typed(raw, typ).cast(catalogue.dtype(name), strict=False).alias(name))
            continue
        exprs.append(common_duration_ms(raw).cast(catalogue.dtype(name), strict=False).alias(name))
        unread = pl.col(name).is_null()
        texts = [json_unescape(pl.when(unread).then(json))] if json is not None else []
        texts += [pl.when(unread).then(group)] if group is not None else []
        rest.append((texts[0] if len(texts) == 1 else pl.coalesce(texts)).alias(f"_d_{name}"))
    return exprs, rest


def _rest_of_durations(part: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """The durations the common form did not read (minutes, hours, junk: a batch seldom has any), read by
    ``duration_ms`` from their texts (``_d_*``), which then go."""
    texts = [c for c in part.columns if c.startswith("_d_")]
    unread = {c.removeprefix("_d_"): c for c in texts if part[c].null_count() < part.height}
    if unread:
        part = part.with_columns(
            pl.coalesce(name, duration_ms(pl.col(text)).cast(catalogue.dtype(name), strict=False)).alias(name)
            for name, text in unread.items()
        )
    return part.drop(texts)


def _digest() -> pl.Expr:
    """Hash of the line from the message on (prefixes differ between copies of one line)."""
    raw = pl.col("raw")
    start = raw.str.find(ZAP_START, literal=True).fill_null(0)
    return raw.str.slice(start).hash(seed=0).alias("digest")


def candidate_filter(catalogue: Catalogue) -> pl.Expr:
    """Lines that can hold a catalogue message: one regex over the needles, the fastest prefilter measured."""
    return pl.col("raw").str.contains("|".join(re.escape(n) for n in catalogue.needles))


def joined_lines(lines: pl.LazyFrame, join_partials: bool) -> pl.LazyFrame:
    """The logical lines of a file: CRI ``P`` chunks joined (kubelet prefix kept), else as read."""
    if not join_partials:
        return lines.with_columns(_chunks=pl.lit(1, dtype=pl.UInt32))
    return _strip_prefix(lines, True).select(
        "line",
        pl.when(pl.col("pts").is_not_null())
        .then(pl.concat_str(pl.col("pts"), pl.lit(" "), pl.col("body")))
        .otherwise(pl.col("body"))
        .alias("raw"),
        "_chunks",
    )


BATCH_ROWS = 1 << 17  # candidate lines turned into events at a time: bounds the memory of a big file


def parse_lines(lines: pl.LazyFrame, catalogue: Catalogue, join_partials: bool) -> tuple[KindFrames, LineStats]:
    """Typed events (one frame per kind) and line statistics of one file.

    ``lines`` has a ``line`` (1-based physical line number) and a ``raw`` (the text) column. The lines
    holding a catalogue needle stream out of one scan in batches and each batch becomes events, so a
    gigabyte file never sits in memory whole; everything else is counted inside the lazy scan. The line
    text itself is not kept: ``excerpts`` reads it back for the few lines a report quotes.
    """
    lines = joined_lines(lines, join_partials)
    queries = _file_stats(lines.drop("_chunks"))
    if join_partials:  # else no line was joined, and counting so would read the lines once more
        queries.append(lines.select((pl.col("_chunks") - 1).sum().alias("joined")))
    totals, others, ends, *chunks = pl.collect_all(queries, engine="streaming")
    is_zap = pl.col("raw").str.contains(ZAP_START, literal=True)
    candidates = lines.filter(candidate_filter(catalogue)).select("line", "raw", is_zap.alias("_zap"))
    parts: dict[str, list[pl.DataFrame]] = {}
    broken = 0
    spans: list[tuple] = []
    for batch in candidates.collect_batches(chunk_size=BATCH_ROWS):
        events, batch_broken, span = _batch_events(batch, catalogue)
        for kind, frame in events.items():
            parts.setdefault(kind, []).append(frame)
        broken += batch_broken
        spans.append(span)

    by_format = dict(zip(others["fmt"].to_list(), others["len"].to_list(), strict=True))
    by_format.pop("empty", None)
    zap_lines, empty = int(totals["zap"][0]), int(totals["empty"][0])
    if zap_lines:
        by_format["zap"] = by_format.get("zap", 0) + zap_lines
    if empty:
        by_format["empty"] = empty
    frames = {kind: pl.concat(p, how="vertical", rechunk=True) for kind, p in sorted(parts.items())}
    # stray lines the catalogue knows as the container's shell preamble are recognised, not stray
    shell = sum(int((f["fmt"] == "shell").sum()) for f in frames.values())
    if shell:
        by_format["other"] = by_format.get("other", 0) - shell
        by_format["shell"] = shell
        if not by_format["other"]:
            del by_format["other"]
    stats = LineStats(
        lines=int(totals["lines"][0]),
        by_format=dict(sorted(by_format.items())),
        unparsed=by_format.get("other", 0),
        joined_partials=int(chunks[0]["joined"][0] or 0) if chunks else 0,
        invalid_json=broken,
        binary_lines=int(totals["binary"][0]),
        long_lines=int(totals["long"][0]),
        first_ts=ends["first"][0],
        last_ts=ends["last"][0],
    )
    firsts = [s[0] for s in spans if s[0] is not None]
    if stats.first_ts is None and firsts:
        stats.first_ts, stats.last_ts = min(firsts), max(s[1] for s in spans if s[1] is not None)
    stats.time_backwards = _time_backwards(frames)
    return frames, stats


CHUNK_BYTES = 32 << 20  # a big file is parsed this many bytes at a time (cut at a line end)


def _chunks(path: Path, size: int | None = None, start: int = 0, uncached: bool = False) -> Iterator[list]:
    """The file from byte ``start`` (a line's start) in reads of ``size`` bytes (CHUNK_BYTES), each with its
    count of whole lines: the line cut short at a read's end is left to the next read (which starts at it),
    so no chunk is ever copied to trim it. Each read comes as ``[bytes, count]``, a list the caller may
    empty: the generator keeps no reference to it, so a parse can let a chunk's bytes go as soon as polars
    holds its lines. ``uncached``: each read's pages are dropped from the page cache (one of our own copies,
    read once: gather/pagecache.py)."""
    size = size or CHUNK_BYTES
    with open(path, "rb") as fh:  # buffered: read(n) returns n bytes unless the file ends
        fh.seek(start)
        while data := fh.read(size):
            if uncached:
                forget(fh.fileno(), fh.tell() - len(data), len(data))
            whole = data.count(b"\n")
            if len(data) < size:  # the end of the file: its last line may have no newline
                box = [data, whole + (0 if data.endswith(b"\n") else 1)]
                del data
                yield box
                return
            tail = len(data) - data.rfind(b"\n") - 1
            if whole == 0:  # one line longer than a chunk: read on until its end
                box = [data + fh.readline(), 1]
            else:
                fh.seek(-tail, os.SEEK_CUR)
                if not data[len(data) - tail :].isascii():
                    # the cut may split a character, and polars checks the whole buffer it is given, not
                    # only the lines it reads: the rare chunk whose cut line holds non-ASCII text is trimmed
                    data = data[: len(data) - tail]
                box = [data, whole]
            del data
            yield box


def _forget_file(path: Path) -> None:
    with open(path, "rb") as fh:
        forget(fh.fileno(), 0, 0)


def _chunk_lines(data: bytes, count: int, first_line: int) -> pl.LazyFrame:
    return pl.scan_lines(data, name="raw").head(count).with_row_index("line", offset=first_line)


def _chunk_frame(box: list, first_line: int) -> pl.LazyFrame:
    """A chunk's lines (``box``, from ``_chunks``, emptied) held by polars, the bytes read let go: the parse
    reads the lines twice (counts, then candidates), and the candidate lines are then views of these, not
    a copy beside the bytes (a 64 MB chunk's parse peaked 65 MB lower)."""
    data, count = box
    box.clear()
    return pl.scan_lines(data, name="raw").head(count).collect().lazy().with_row_index("line", offset=first_line)


def parse_file(
    path: Path, catalogue: Catalogue, join_partials: bool, spill: Path | None = None, uncached: bool = False
) -> tuple[FileFrames, LineStats]:
    """``parse_lines`` of a file, a chunk at a time when it is big: the memory a parse needs grows with
    what it reads at once, and a support engineer's laptop should not need the log's size in RAM.

    ``spill``: a directory of scratch space. A big file's events then go there as the chunks are parsed
    (``_Spill``), and the frames returned read them back when collected: a parse holds one chunk's events,
    not the file's, and what comes back is packed tight (a chunk's frames held some 100 MB more per GiB of
    log than the same events read back).

    CRI-tagged files with partial lines (to join across a chunk's end) are read whole: the kubelet rotates
    them at a few tens of MB. Most have none (CRI-O splits only lines over 16 KiB), and joining costs as
    much as the rest of the parse: those are parsed like any log, with the same events.

    ``uncached``: the file is one of our own copies, read once: its pages are dropped from the page cache
    as it is read (gather/pagecache.py)."""
    if join_partials and not _has_partials(path):
        join_partials = False
    if join_partials or path.stat().st_size <= 2 * CHUNK_BYTES:
        parsed = parse_lines(pl.scan_lines(path, name="raw").with_row_index("line", offset=1), catalogue, join_partials)
        if uncached:
            _forget_file(path)
        return parsed
    results: list[tuple[FileFrames, LineStats]] = []
    first_line, offset = 1, 0
    starts = []
    spilling = _Spill(spill) if spill is not None else None
    for n, box in enumerate(_chunks(path, uncached=uncached)):
        starts.append((first_line, offset))
        count, offset = box[1], offset + box[0].rfind(b"\n") + 1  # (the last chunk's end is never a start)
        frames, stats = parse_lines(_chunk_frame(box, first_line), catalogue, False)
        results.append((spilling.take(frames, n) if spilling is not None else frames, stats))
        first_line += count
    if spilling is not None:  # what never gathered enough to be written, after the rest of its kind
        results.append((spilling.rest(), LineStats()))
    frames, stats = _merge(results)
    stats.chunk_starts = tuple(starts)
    return frames, stats


FileFrames = dict[str, pl.DataFrame | pl.LazyFrame]  # a file's events per kind, some maybe spilled to disk
SPILL_MIN_BYTES = 1 << 20  # a kind's events are written out once they gather this much: smaller writes cost
# more in files (1.5 ms each: the 40 kinds of 6 chunks took 0.35 s of a 341 MB file's 3.2) than they hold


class _Spill:
    """Where a big file's events go as its chunks are parsed. Each kind's events gather, chunk after chunk,
    until they reach SPILL_MIN_BYTES; they are then written to ``where`` as one Parquet file (uncompressed:
    it is read back once, minutes later at most) and come back as a scan of it. A kind that never gathers
    that much stays in memory (``rest``).

    Written only when one chunk held that much of a kind, a file's smaller kinds stayed in memory the whole
    parse: some 60 MB a file of the lab-line corpus, with three files in flight the parse's peak; written
    every chunk whatever their size, they were 240 files for a 341 MB log, 0.35 s more."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.pending: dict[str, list[pl.DataFrame]] = {}

    def take(self, frames: KindFrames, n: int) -> FileFrames:
        """The ``n``th chunk's events: the kinds written now (this chunk's events and those pending before
        them), as scans; the others wait."""
        out: FileFrames = {}
        for kind, frame in frames.items():
            pending = self.pending.setdefault(kind, [])
            pending.append(frame)
            if sum(f.estimated_size() for f in pending) >= SPILL_MIN_BYTES:
                self.where.mkdir(parents=True, exist_ok=True)
                path = self.where / f"{kind}.{n:05d}.parquet"
                pl.concat(pending, how="vertical").write_parquet(path, compression="uncompressed", statistics=False)
                out[kind] = pl.scan_parquet(path)
                pending.clear()
        return out

    def rest(self) -> FileFrames:
        """What is still waiting once the last chunk is taken: it comes after its kind's written events."""
        return {kind: pl.concat(p, how="vertical") for kind, p in self.pending.items() if p}


def collected(frames: FileFrames) -> KindFrames:
    """A file's events all in memory (spilled ones read back)."""
    return {kind: f.collect() if isinstance(f, pl.LazyFrame) else f for kind, f in frames.items()}


PARTIAL_TAGS = (b" stdout P ", b" stderr P ")  # a CRI-O partial line: "<time> stdout P <text>"


def _has_partials(path: Path) -> bool:
    """Whether a CRI file may hold a partial line. A tag inside a message is a false alarm that costs only
    the joining parse; a missed one is impossible (every partial line carries its tag)."""
    edge = b""
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            seam = edge + block[:16]  # a tag cut between two reads
            if any(tag in block or tag in seam for tag in PARTIAL_TAGS):
                return True
            edge = (edge + block[-16:])[-16:]  # the stream's last bytes, however short the reads
    return False


def _merge(results: list[tuple[FileFrames, LineStats]]) -> tuple[FileFrames, LineStats]:
    """One file's events and statistics from those of its consecutive chunks."""
    parts: dict[str, list[pl.DataFrame | pl.LazyFrame]] = {}
    for frames, _ in results:
        for kind, frame in frames.items():
            parts.setdefault(kind, []).append(frame)
    frames: FileFrames = {
        kind: pl.concat([f.lazy() for f in p], how="vertical")
        if any(isinstance(f, pl.LazyFrame) for f in p)
        else pl.concat(p, how="vertical", rechunk=True)
        for kind, p in sorted(parts.items())
    }
    all_stats = [st for _, st in results]
    by_format: dict[str, int] = {}
    for st in all_stats:
        for fmt, n in (st.by_format or {}).items():
            by_format[fmt] = by_format.get(fmt, 0) + n
    firsts = [st.first_ts for st in all_stats if st.first_ts is not None]
    lasts = [st.last_ts for st in all_stats if st.last_ts is not None]
    stats = LineStats(
        lines=sum(st.lines for st in all_stats),
        by_format=dict(sorted(by_format.items())),
        unparsed=sum(st.unparsed for st in all_stats),
        joined_partials=sum(st.joined_partials for st in all_stats),
        invalid_json=sum(st.invalid_json for st in all_stats),
        binary_lines=sum(st.binary_lines for st in all_stats),
        long_lines=sum(st.long_lines for st in all_stats),
        first_ts=min(firsts) if firsts else None,
        last_ts=max(lasts) if lasts else None,
    )
    stats.time_backwards = _time_backwards(frames)
    return frames, stats


def _time_backwards(frames: FileFrames) -> int:
    """Events dated more than a second before the event above them, in file order."""
    if not frames:
        return 0
    order = pl.concat([f.lazy().select("line", "ts") for f in frames.values()]).sort("line").collect()
    return int((order["ts"].diff() < timedelta(seconds=-1)).sum())


Stage = Callable[[pl.LazyFrame], pl.LazyFrame]


def _rule_stages(catalogue: Catalogue, idx: int) -> list[Stage]:
    """The steps that turn an entry's rows into its events, built once per catalogue and entry (kept in the
    catalogue's memo): building the expressions in Python cost 13 ms of a batch's 360, and every batch of
    every file needs the same."""
    stages = catalogue.memo.get(("stages", idx))
    if stages is None:
        rule = catalogue.messages[idx]
        sources = _rule_sources(rule, catalogue.fields)
        fields, rest = _rule_fields(rule, catalogue)
        columns = [
            pl.col("line").cast(pl.UInt64),
            "ts",
            "level",
            "fmt",
            pl.lit(rule.kind).alias("kind"),
            pl.lit(rule.subsystem).alias("subsystem"),
            _digest(),
            *(pl.col(name) for name in catalogue.kind_fields(rule.kind)),
            *rest,
        ]
        stages = [lambda q: q.with_columns(sources), lambda q: q.with_columns(fields), lambda q: q.select(columns)]
        escaped = [json_unescape(pl.col(n)).alias(n) for n in rule.json if catalogue.fields[n] == "str"]
        if escaped:
            stages.append(lambda q: q.with_columns(escaped))
        catalogue.memo[("stages", idx)] = stages
    return stages


def _batch_events(batch: pl.DataFrame, catalogue: Catalogue) -> tuple[KindFrames, int, tuple]:
    """One batch of candidate lines (in file order) to events per kind (each in file order), the count
    of broken zap lines, and the batch's time span."""
    zap = _zap_candidates(batch.filter(pl.col("_zap")).drop("_zap").lazy()).collect()
    text_rows = batch.filter(~pl.col("_zap")).drop("_zap")
    text = _text_candidates(text_rows.lazy()).collect() if text_rows.height else zap.clear()
    cand = pl.concat([zap, text.cast(zap.schema)]) if text.height else zap
    span = (cand["ts"].min(), cand["ts"].max()) if cand.height else (None, None)
    ruled = _assign_rules(cand.filter(pl.col("text").is_not_null()), catalogue)
    # every entry's fields as one lazy query each, run together: per-entry eager steps cost more in
    # overhead than in work (a 64 MB chunk has some forty entries, most with a few hundred lines)
    kinds: list[str] = []
    queries: list[pl.LazyFrame] = []
    for (idx,), rows in sorted(ruled.partition_by("_rule", as_dict=True).items()):
        query = rows.lazy()
        for stage in _rule_stages(catalogue, idx):
            query = stage(query)
        kinds.append(catalogue.messages[idx].kind)
        queries.append(query)
    parts: dict[str, list[pl.DataFrame]] = {}
    for kind, part in zip(kinds, pl.collect_all(queries), strict=True):
        parts.setdefault(kind, []).append(_rest_of_durations(part, catalogue))
    broken = int(zap["_broken"].sum())
    frames = {kind: (pl.concat(p, how="vertical") if len(p) > 1 else p[0]).sort("line") for kind, p in parts.items()}
    return frames, broken, span


def excerpts(lines: pl.LazyFrame, join_partials: bool, wanted: pl.Series) -> pl.DataFrame:
    """``line`` -> ``excerpt`` (the line without kubelet/syslog prefix, cut to EXCERPT_CHARS) for the
    wanted line numbers: one more scan of the file, for the lines a report quotes. The scan stops at the
    last wanted line and keeps no line before the first (what a report quotes lies mostly in its window:
    the end of the file)."""
    wanted = wanted.cast(pl.UInt64)
    if not join_partials:  # (a CRI file's partial lines are joined: where one starts is known after the scan)
        first, last = (int(wanted.min()), int(wanted.max())) if wanted.len() else (1, 0)
        lines = lines.slice(first - 1, last - first + 1)  # ``lines`` are the file's lines from its first
    return _quoted(lines, join_partials, wanted).collect(engine="streaming")


def _quoted(lines: pl.LazyFrame, join_partials: bool, wanted: pl.Series) -> pl.LazyFrame:
    picked = joined_lines(lines, join_partials).filter(pl.col("line").is_in(wanted.implode())).select("line", "raw")
    inner = _classify(_strip_prefix(picked, False))
    return inner.select(pl.col("line").cast(pl.UInt64), pl.col("inner").str.slice(0, EXCERPT_CHARS).alias("excerpt"))


QUOTE_BLOCK_BYTES = 16 << 20  # the lines a report quotes are read back this many bytes at a time
EXCERPT_SCHEMA = {"line": pl.UInt64(), "excerpt": pl.String()}


def file_excerpts(
    path: Path,
    join_partials: bool,
    wanted: pl.Series,
    starts: tuple[tuple[int, int], ...] = (),
    uncached: bool = False,
) -> pl.DataFrame:
    """``excerpts`` of the file at ``path``, a stretch at a time: a report quotes lines from all over a big
    log, and polars' scan of the file from its first quoted line to its last held some 160 MB of a 341 MB
    file. ``starts``: (first line, byte offset) of the stretches the file was parsed in
    (``LineStats.chunk_starts``): a stretch without a wanted line is not read at all (what a report quotes
    lies mostly at the end of a log), one with is read whole (its lines are known). The last stretch, or a
    file parsed whole, is read QUOTE_BLOCK_BYTES at a time, its lines counted.

    A CRI file with partial lines (a line may go on past a block's end) is scanned as before: the kubelet
    rotates those at a few tens of MB. ``uncached``: as ``parse_file``'s."""
    wanted = wanted.cast(pl.UInt64)
    if join_partials:
        quoted = excerpts(pl.scan_lines(path, name="raw").with_row_index("line", offset=1), True, wanted)
        if uncached:
            _forget_file(path)
        return quoted
    wanted = wanted.unique().sort()
    parts = [pl.DataFrame(schema=EXCERPT_SCHEMA)]
    marks = list(starts) or [(1, 0)]
    done = 0  # wanted lines already read (the stretches cover the file from its first line, in order)
    for i, (first_line, offset) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else None
        if done == wanted.len():
            break
        if stop is not None and wanted[done] >= stop:
            continue
        if stop is not None:  # a whole stretch: its bytes and lines are known, nothing to count
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(marks[i + 1][1] - offset)
                if uncached:
                    forget(fh.fileno(), offset, len(data))
            upto = wanted.search_sorted(stop, side="left")
            here = wanted.slice(done, upto - done)
            parts.append(_quoted(_chunk_lines(data, stop - first_line, first_line), False, here).collect())
            done = upto
            continue
        for data, count in _chunks(path, QUOTE_BLOCK_BYTES, offset, uncached):
            end = first_line + count
            upto = wanted.search_sorted(end, side="left")
            if upto > done:
                here = wanted.slice(done, upto - done)
                parts.append(_quoted(_chunk_lines(data, count, first_line), False, here).collect())
                done = upto
            first_line = end
            if done == wanted.len() or (stop is not None and first_line >= stop):
                break
    return pl.concat(parts, how="vertical")
