#!/usr/bin/env python3
"""The least any polars analysis of a corpus must do, timed: the floor under etcd-perf's parse.

Issue 6's speed targets (6x the naive reference, 8x grep) leave about 2 s per GiB on two cores for the
whole analysis. These queries do a fraction of one, each a single streaming scan of every log file at
once, on the same catalogue needles etcd-perf uses:

- ``read``: every line, counted;
- ``candidates``: the lines holding a catalogue needle, counted;
- ``three fields``: of those, the message, the minute and the raw ``took`` text, grouped by message and
  minute (count, longest text). No typing, no catalogue entry, no other field, no evidence, no report.
- ``every field``: of the candidates, every JSON key the catalogue reads, as text (an array as a list),
  decoded by polars' JSON reader in one pass per line (the fastest vectorised reading measured: about
  twice as fast as a regex per key), and each key's values counted. Still no time, no level, no catalogue
  entry, no typing and no analysis: the least a parse that gives the analysis its fields must do. (Not
  usable as the parser itself: one line that is not JSON fails the whole column.)
- ``every field, timed``: the same, and each line's time read from its kubelet prefix as etcd-perf reads it.
  A report dates what it counts, so no parse does less: this is the least parse there can be, and
  ``run.py`` puts it in place of etcd-perf's own parse to give the least whole analysis possible.
- ``every field, typed``: the same, and every duration key turned into milliseconds as etcd-perf does
  (every statistic is on them), over all the rows, where a key is mostly null.

If ``three fields`` alone takes the budget, no polars-only design meets the targets on this machine.

    python3 benchmarks/floor.py <corpus dir> [--repeat N]     # prints JSON: seconds per stage
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import polars as pl

from etcd_perf.gather.catalogue import default_catalogue
from etcd_perf.gather.durations import common_duration_ms
from etcd_perf.gather.logparse import ZAP_MSG, ZAP_START, _prefix_ts


def stages(needles: str) -> dict[str, object]:
    raw = pl.col("raw")
    catalogue = default_catalogue()
    keys = sorted({(key, catalogue.fields[name]) for m in catalogue.messages for name, key in m.json.items()})
    decoded = pl.Struct({key: pl.List(pl.String) if typ == "array" else pl.String for key, typ in keys})

    def read(f: str) -> pl.LazyFrame:
        return pl.scan_lines(f, name="raw").select(pl.len())

    def candidates(f: str) -> pl.LazyFrame:
        return pl.scan_lines(f, name="raw").filter(raw.str.contains(needles)).select(pl.len())

    def three_fields(f: str) -> pl.LazyFrame:
        return (
            pl.scan_lines(f, name="raw")
            .filter(raw.str.contains(needles))
            .select(
                raw.str.extract(ZAP_MSG, 1).alias("msg"),
                _prefix_ts(raw).dt.truncate("1m").alias("minute"),
                raw.str.extract(r'"took":"([^"]*)"', 1).alias("took"),
            )
            .group_by("msg", "minute")
            .agg(pl.len(), pl.col("took").max())
        )

    def decoded_lines(f: str, *timed: pl.Expr) -> pl.LazyFrame:
        return (
            pl.scan_lines(f, name="raw")
            .filter(raw.str.contains(needles))
            # zap lines; the reference's elided lines ("...") are not JSON, and one invalid line fails the
            # whole decode (polars has no per-line fallback): the floor leaves them out
            .filter(raw.str.contains(ZAP_START, literal=True) & ~raw.str.contains(",...", literal=True))
            .select(*timed, raw.str.replace(r"^[^{]*", "").str.json_decode(decoded).alias("j"))
            .unnest("j")
        )

    def every_field(f: str) -> pl.LazyFrame:
        return decoded_lines(f).select(pl.all().count())

    def every_field_timed(f: str) -> pl.LazyFrame:
        return decoded_lines(f, _prefix_ts(raw).alias("_ts")).select(pl.all().count())

    def every_field_typed(f: str) -> pl.LazyFrame:
        ms = [common_duration_ms(pl.col(key)).alias(key) for key, typ in keys if typ == "duration"]
        return decoded_lines(f, _prefix_ts(raw).alias("_ts")).with_columns(ms).select(pl.all().count())

    return {
        "read": read,
        "candidates": candidates,
        "three fields": three_fields,
        "every field": every_field,
        "every field, timed": every_field_timed,
        "every field, typed": every_field_typed,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    logs = sorted(str(f) for f in args.corpus.rglob("*.log"))
    needles = "|".join(re.escape(n) for n in default_catalogue().needles)
    out = {}
    for name, query in stages(needles).items():
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            pl.collect_all([query(f) for f in logs], engine="streaming")
            best = min(best, time.perf_counter() - start)
        out[name] = best
    print(json.dumps(out))


if __name__ == "__main__":
    main()
