"""Prometheus samples from a bundle: OpenMetrics dumps and /metrics scrapes, as one polars frame.

`promtool tsdb dump-openmetrics` (what `gather_etcd_more` and `gather_metrics` write) gives one
sample per line, ``name{sorted labels} value ts_seconds``, raw cumulative counters, ``# EOF`` at the
end, sometimes gzipped. A /metrics scrape (Prometheus text format) is one instant with HELP/TYPE
comments and no timestamps (or milliseconds). Both are parsed with vectorised polars expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from etcd_perf.gather import gunzip
from etcd_perf.gather.layout import METRIC_FILE_NAMES

SAMPLE_LINE = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?\s*$"
LABELS = {
    "pod": "pod",
    "instance": "instance",
    "le": "le",
    "peer": "To",
    "grpc_method": "grpc_method",
    "grpc_type": "grpc_type",
}

SCHEMA = {
    "name": pl.String(),
    "labels": pl.String(),
    "pod": pl.String(),
    "instance": pl.String(),
    "le": pl.Float64(),
    "peer": pl.String(),
    "grpc_method": pl.String(),
    "grpc_type": pl.String(),
    "value": pl.Float64(),
    "ts_ms": pl.Int64(),
    "source": pl.String(),
}


# as a bundle keeps them: every text column categorical (a dump repeats a few thousand series' texts
# millions of times; a category is 4 bytes a sample, a string its whole text)
TEXT_COLUMNS = ("name", "labels", "pod", "instance", "peer", "grpc_method", "grpc_type", "source")
KEPT_SCHEMA = {k: (pl.Categorical() if k in TEXT_COLUMNS else v) for k, v in SCHEMA.items()}


@dataclass
class MetricsFile:
    file: str
    kind: str  # openmetrics dump | scrape
    samples: int
    series: int
    unparsed: int
    problems: list[str]


def _label(name: str) -> pl.Expr:
    # label values are quoted with \" and \\ escapes; none of the labels we read contains them in practice
    return pl.col("labels").str.extract(rf'(?:^|,)\s*{name}="((?:[^"\\]|\\.)*)"', 1)


def _float(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace(r"^\+?Inf$", "inf").str.replace(r"^-Inf$", "-inf").cast(pl.Float64, strict=False)


SAMPLE_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_TAIL = r"^\s+(\S+)(?:\s+(\S+))?\s*$"  # value and optional timestamp, after the name or labels


def sample_parts(lines: pl.LazyFrame) -> pl.LazyFrame:
    """SAMPLE_LINE's groups of each ``raw`` line as columns "1" name, "2" labels, "3" value and "4"
    timestamp, without its captures on most lines: capturing groups over a whole line cost five times a
    plain match.

    The line is matched without captures; the name is the leading identifier; the labels run from the
    brace after it to the last closing brace; the value and timestamp are captured in the short rest.
    Where that rest is not a value and timestamp (a brace inside a value: a damaged line), the full
    pattern decides, so the result is SAMPLE_LINE's on every line. In stages, each column computed
    once: polars evaluates a reused sub-expression again."""
    raw = pl.col("raw")
    name_len = pl.col("_name").str.len_chars()
    quick = pl.col("_t").struct.field("1").is_not_null()
    return (
        lines.with_columns(_valid=raw.str.contains(SAMPLE_LINE), _name=raw.str.extract(SAMPLE_NAME, 0))
        .with_columns(_braced=pl.col("_valid") & (raw.str.slice(name_len, 1) == "{"))
        .with_columns(
            _tail=pl.when(pl.col("_braced")).then(raw.str.extract(r"\}([^}]*)$", 1)).otherwise(raw.str.slice(name_len))
        )
        .with_columns(_t=pl.when(pl.col("_valid")).then(pl.col("_tail")).str.extract_groups(SAMPLE_TAIL))
        .with_columns(
            _labels=pl.when(pl.col("_braced")).then(
                raw.str.slice(name_len + 1, raw.str.len_chars() - name_len - 2 - pl.col("_tail").str.len_chars())
            ),
            _slow=pl.when(pl.col("_valid") & ~quick).then(raw).str.extract_groups(SAMPLE_LINE),
        )
        .select(
            pl.when(pl.col("_valid")).then(pl.col("_name")).alias("1"),
            pl.coalesce(pl.when(quick).then(pl.col("_labels")), pl.col("_slow").struct.field("2")).alias("2"),
            pl.coalesce(pl.col("_t").struct.field("1"), pl.col("_slow").struct.field("3")).alias("3"),
            pl.coalesce(pl.when(quick).then(pl.col("_t").struct.field("2")), pl.col("_slow").struct.field("4")).alias(
                "4"
            ),
        )
    )


def parse_samples(data: bytes, kind: str, source: str, default_ts: datetime | None) -> tuple[pl.DataFrame, int]:
    """Samples of one file and the number of lines that were neither samples nor comments.

    One lazy query on the streaming engine: a dump is tens to hundreds of MB of text, and only the
    typed samples are kept, never the lines."""
    default_ms = int(default_ts.timestamp() * 1000) if default_ts is not None else None
    # OpenMetrics timestamps are seconds; the Prometheus text format's are milliseconds.
    ts = pl.col("raw_ts") * 1000 if kind == "openmetrics dump" else pl.col("raw_ts")
    lines = pl.scan_lines(data, name="raw").filter(
        ~pl.col("raw").str.starts_with("#") & (pl.col("raw").str.strip_chars() != "")
    )
    parsed = (
        sample_parts(lines)
        .select(
            name=pl.col("1"),
            labels=pl.col("2").fill_null(""),
            value=_float(pl.col("3")),
            raw_ts=pl.col("4").cast(pl.Float64, strict=False),
        )
        .with_columns(_ok=pl.col("name").is_not_null() & pl.col("value").is_not_null())
        .collect(engine="streaming")
    )
    bad = int((~parsed["_ok"]).sum())
    ok = parsed.filter(pl.col("_ok") & ~pl.col("value").is_nan())
    # a dump repeats each series' labels on every sample: each distinct text is read once
    labels = (
        ok.select(pl.col("labels").unique())
        .with_columns(**{col: _label(label) for col, label in LABELS.items()})
        .with_columns(le=_float(pl.col("le")))
    )
    frame = (
        ok.join(labels, on="labels", how="left", maintain_order="left")
        .with_columns(
            ts_ms=ts.round(0).cast(pl.Int64, strict=False).fill_null(pl.lit(default_ms, dtype=pl.Int64)),
            source=pl.lit(source),
        )
        .select(list(SCHEMA))
        .cast(SCHEMA)
    )
    return frame, bad


BLOCK_BYTES = 32 << 20  # text read, unpacked and parsed at a time: memory follows this, not the dump
NAME_AT = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*")
SAMPLE_AT = re.compile(SAMPLE_LINE.encode())
TRUNCATED = "gzip stream truncated; read what was readable"


def _blocks(path: Path, problems: list[str]) -> Iterator[tuple[bytearray, int]]:
    """The file's text (gunzipped on the way) in blocks, each ``(block, end)``: ``block[:end]`` is whole
    lines (the last block's last line may lack its newline). The blocks are one buffer, read into again and
    again (a fresh 32 MB object per block costs more in page faults than the reading), valid until the next
    block is asked for."""
    gzipped = gunzip.is_gzip(path)
    with gunzip.open_gzip(path) if gzipped else open(path, "rb") as fh:
        buf, held, ended = bytearray(BLOCK_BYTES), 0, False
        while not ended:
            try:
                got = fh.readinto(memoryview(buf)[held:])
            except (EOFError, OSError, *gunzip.ERRORS) as exc:  # cut short or damaged: what was read is kept
                problems.append(TRUNCATED if gzipped else f"read error ({exc}); read what was readable")
                got = 0
            ended = got == 0
            total = held + got
            if total == 0:
                return
            cut = total if ended else buf.rfind(b"\n", 0, total) + 1
            if cut == 0:  # one line longer than the buffer: a bigger buffer
                buf.extend(bytearray(len(buf)))
                held = total
                continue
            yield buf, cut
            buf[: total - cut] = buf[cut:total]
            held = total - cut


def _line_start(b: bytes, at: int) -> int:
    return b.rfind(b"\n", 0, at) + 1


def _name_at(b: bytes, at: int, n: int) -> bytes:
    """The leading metric name of the line starting at ``at`` (b"#" for a comment, b"" for anything else)."""
    if b[at : at + 1] == b"#":
        return b"#"
    m = NAME_AT.match(b, at, n)
    return m.group(0) if m else b""


def _line_end(b: bytes, at: int, n: int) -> int:
    """The start of the line after the one starting at ``at`` (or ``n``)."""
    end = b.find(b"\n", at, n)
    return n if end < 0 else end + 1


def _series_at(b: bytes, at: int, n: int) -> bytes:
    """The series of the sample line starting at ``at``: its name and labels, without value and timestamp."""
    line = b[at : _line_end(b, at, n)].rstrip(b"\r\n")
    brace = line.rfind(b"}")
    return line[: brace + 1] if brace >= 0 else line.split(None, 1)[0] if line.strip() else b""


def _run_end(b: bytes, at: int, n: int, key: Callable[[bytes, int, int], bytes]) -> int:
    """Where the run of lines sharing the line at ``at``'s key ends (a line start, or ``n``).

    Galloping, then bisection, over line starts: O(log n) lines read. A family's lines (a series' samples)
    are contiguous in a dump: OpenMetrics forbids interleaving families, promtool writes series in label
    order (``__name__`` first), each series' samples together. So no line between two lines of one key
    has another key."""
    want = key(b, at, n)
    lo, hi, step = at, n, 4096
    while lo + step < n:
        q = _line_start(b, lo + step)
        if q > lo and key(b, q, n) != want:
            hi = q
            break
        lo = max(lo, q)
        step *= 2
    while True:
        nxt = _line_end(b, lo, n)
        if nxt >= hi:
            return hi
        q = _line_start(b, (nxt + hi) // 2)
        if key(b, q, n) == want:
            lo = q
        else:
            hi = q


Runs = list[tuple[int, int]]


def _split(b: bytes, n: int, families: frozenset[bytes]) -> tuple[Runs, Runs, Runs]:
    """``b[:n]``'s runs of lines to parse (families read, damaged lines), to skip (other families'
    well-formed samples) and of comments, found without reading every line."""
    parse: Runs = []
    skip: Runs = []
    comments: Runs = []
    at = 0
    while at < n:
        name = _name_at(b, at, n)
        if name == b"#":
            # comments are no family: a HELP and TYPE pair heads each family of a scrape, so two comment
            # lines far apart say nothing of the lines between them; a comment run is read line by line
            end = at
            while end < n and b[end : end + 1] == b"#":
                end = _line_end(b, end, n)
            comments.append((at, end))
            at = end
            continue
        end = _run_end(b, at, n, _name_at)
        if name not in families and name and SAMPLE_AT.match(b[at : _line_end(b, at, n)].rstrip(b"\r\n")):
            skip.append((at, end))
        elif parse and parse[-1][1] == at:
            parse[-1] = (parse[-1][0], end)
        else:
            parse.append((at, end))
        at = end
    return parse, skip, comments


def _lines(b: bytes | bytearray, start: int, end: int) -> int:
    """Lines in ``b[start:end]`` (the last may lack its newline): the samples of a family skipped. (polars'
    line scanner counts twice as fast, but copying the run out for it costs more than that.)"""
    return b.count(b"\n", start, end) + (1 if end > start and b[end - 1] != 10 else 0)


def _file_lines(path: Path) -> int:
    """The lines of a plain file, as ``_lines`` counts them, by polars' line scanner: twice the speed of
    ``bytes.count``, on its own threads (it neither holds the interpreter's lock nor validates UTF-8).
    Should it fail, by ``bytes.count``; of a file that cannot be read whole, the lines read (the reading
    of the samples says what went wrong)."""
    try:
        return int(pl.scan_lines(path).select(pl.len()).collect().item())
    except Exception:  # whatever stopped the fast count, the slow one counts the same lines
        pass
    lines, last = 0, b"\n"
    try:
        with open(path, "rb") as fh:
            while block := fh.read(BLOCK_BYTES):
                lines, last = lines + block.count(b"\n"), block[-1:]
    except OSError:
        return lines
    return lines + (last != b"\n")


def _series_runs(b: bytes, start: int, end: int) -> tuple[int, bytes, bytes]:
    """Number of series in a run of one family's lines, and its first and last series."""
    count, at, first, last = 0, start, b"", b""
    while at < end:
        last = _series_at(b, at, end)
        first = first or last
        at = _run_end(b, at, end, _series_at)
        count += 1
    return count, first, last


def read_metrics_file(
    path: Path, rel: str, default_ts: datetime | None, families: Iterable[str] | None = None
) -> tuple[pl.DataFrame, MetricsFile]:
    """The file's samples (of ``families`` only, when given) and what it holds.

    Streamed: BLOCK_BYTES of text at a time, unpacked on the way, so memory follows the samples kept, not
    the file. With ``families``, the other families' lines are skipped by their name alone (a dump holds
    each family's lines together; see ``_run_end``): counted as samples and series, never parsed. A
    whole-cluster dump (OpenShift 4.18+ ``gather_metrics``) is mostly such lines."""
    kind = "scrape" if path.name.endswith(".prom") else "openmetrics dump"
    problems: list[str] = []
    wanted = frozenset(f.encode() for f in families) if families is not None else None
    frames: list[pl.DataFrame] = []
    seen: list[pl.DataFrame] = []  # distinct series parsed
    samples = series = bad = 0
    tail = b""
    carried = b""  # the series a skipped run ended a block with: the next block may go on with it
    # The skipped families' samples are their lines: of a plain file, all its lines less those read or
    # commented, counted beside the reading (bytes.count of the skipped runs held the interpreter's lock
    # for half the reading of a whole-cluster dump); of a gzipped one, run by run.
    with ThreadPoolExecutor(max_workers=1) as pool:
        everything = pool.submit(_file_lines, path) if wanted is not None and not gunzip.is_gzip(path) else None
        kept_lines = 0  # lines of the runs read and of the comments, when ``everything`` counts the file
        for block, n in _blocks(path, problems):
            tail = (tail + block[max(0, n - 64) : n])[-64:]
            parse, skip, comments = ([(0, n)], [], []) if wanted is None else _split(block, n, wanted)
            if everything is not None:
                kept_lines += sum(_lines(block, start, end) for start, end in parse + comments)
            carried, skipped, runs = _skipped(block, n, skip, carried, everything is None)
            samples += skipped
            series += runs
            if not parse:
                continue
            frame, unparsed = _parse_runs(block, parse, kind, rel, default_ts)
            bad += unparsed
            samples += frame.height
            seen.append(frame.select("name", "labels").unique())
            if wanted is not None:
                frame = frame.filter(pl.col("name").is_in(list(families or [])))
            frames.append(frame)
        if everything is not None:
            samples += everything.result() - kept_lines
    if kind == "openmetrics dump" and tail and not tail.rstrip().endswith(b"# EOF"):
        problems.append("no '# EOF' line: the dump may be truncated")
    if seen:
        series += pl.concat(seen).unique().height
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=KEPT_SCHEMA)
    return frame, MetricsFile(rel, kind, samples, int(series), bad, problems)


def _skipped(block: bytearray, n: int, skip: Runs, carried: bytes, count: bool) -> tuple[bytes, int, int]:
    """The skipped runs of a block: the series the block ends with when a run reaches its end (for the next
    block, which may go on with it), their samples (when ``count``) and their series."""
    samples = series = 0
    for start, end in skip:
        if count:
            samples += _lines(block, start, end)
        number, first, last = _series_runs(block, start, end)
        series += number - (1 if first == carried and start == 0 else 0)
        carried = last if end == n else b""
    if not skip or skip[-1][1] != n:
        carried = b""
    return carried, samples, series


def _parse_runs(
    block: bytearray, parse: Runs, kind: str, rel: str, default_ts: datetime | None
) -> tuple[pl.DataFrame, int]:
    """The samples of a block's runs to read (categorical: a string column's slices keep the whole block's
    text alive), and the count of lines that are not samples."""
    view = memoryview(block)
    data = b"".join(view[s:e] for s, e in parse)
    view.release()
    try:
        data.decode("utf-8")  # nearly always valid: then parsed as read, with no replaced copy
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    frame, unparsed = parse_samples(data, kind, rel, default_ts)
    return frame.cast(KEPT_SCHEMA), unparsed


def find_metric_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and (path.name in METRIC_FILE_NAMES or path.name.endswith(".prom")):
            found.append(path)
    return found
