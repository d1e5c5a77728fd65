"""Logs that would exhaust memory or time, made harmless before they are parsed: at byte-scan speed.

What customers do send: a ``current.log`` that ends in gigabytes of NUL bytes (a node that lost power
mid-write), a line of hundreds of MiB (a runaway writer), hundreds of MiB of empty lines. A line-oriented
reader holds a line whole, so one 2 GiB "line" costs gigabytes of memory, and hundreds of millions of empty
lines cost minutes. So every log is scanned in blocks first (``find`` and ``count`` on bytes: memchr
speed), and only where it holds such a thing is a cleaned copy written:

- a line longer than ``LONG_LINE_BYTES`` is cut while streaming to its first ``KEEP`` bytes (the excerpt
  a report can quote) and counted, never held whole;
- a run of more than ``RUN`` empty lines is kept as one empty line, and the lines it stood for are
  counted; a ``LineMap`` turns the copy's line numbers back into the file's, so every event and every
  quoted line still points at the real line of the real file.

Nothing here looks at what a line says: that is the parser's work, on the cleaned copy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

LONG_LINE_BYTES = 1 << 20  # the parser's limit too: a longer line is binary junk or a runaway writer
KEEP = 4096  # bytes kept of a cut line
RUN = 64  # more empty lines in a row than this are kept as one
BLOCK = 16 << 20


NEWLINES = re.compile(rb"\n+")


def _next_run(data: bytes, pos: int) -> tuple[int, int] | None:
    """The first run of more than RUN empty lines at or after ``pos``: the line end before them and theirs,
    as ``(start, end)`` of the pattern ``\\n{RUN+2,}``'s match. Found with ``find`` of RUN+2 line ends (a
    substring search that skips ahead: a regular expression tries every line end and ran at 140 MB/s), then
    extended over the line ends that follow. RUN is read at call time, so a test may lower it."""
    at = data.find(b"\n" * (RUN + 2), pos)
    if at < 0:
        return None
    run = NEWLINES.match(data, at)
    return at, run.end() if run else at


@dataclass
class LineMap:
    """Where the cleaned copy dropped empty lines: after the copy's line ``at[i]`` (1-based, the one empty
    line kept of a run), ``dropped[i]`` more lines of the file were left out."""

    at: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    # where in the copy (bytes) each kept line ends, as ``clean`` writes it; ``resolve_lines`` fills ``at``
    offsets: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.dropped

    def _runs(self) -> pl.DataFrame:
        """Each run: its kept line in the copy, the lines dropped up to and including it (``_shift``), and
        the file line its last dropped line was (``_end``)."""
        if len(self.at) != len(self.dropped):
            raise ValueError("line map used before resolve_lines")
        runs = pl.DataFrame({"_at": self.at, "_d": self.dropped}, schema={"_at": pl.UInt64, "_d": pl.UInt64})
        runs = runs.with_columns(_shift=pl.col("_d").cum_sum())
        return runs.with_columns(_end=pl.col("_at") + pl.col("_shift")).sort("_at")

    def to_file_lines(self, frame: pl.DataFrame, column: str = "line") -> pl.DataFrame:
        """``frame`` with ``column`` (the copy's line numbers) turned into the file's line numbers."""
        if self.empty or frame.height == 0:
            return frame
        runs = self._runs().select("_at", "_shift")
        # a copy line after a run's kept line is shifted by that run and every run before it
        return (
            frame.with_row_index("_row")
            .sort(column)
            .join_asof(runs, left_on=column, right_on="_at", strategy="backward", allow_exact_matches=False)
            .with_columns((pl.col(column) + pl.col("_shift").fill_null(0)).cast(frame.schema[column]).alias(column))
            .sort("_row")
            .drop("_row", "_at", "_shift")
        )

    def to_copy_lines(self, lines: pl.Series) -> pl.Series:
        """The copy's line numbers of the file's lines ``lines`` (none of them a dropped empty line)."""
        if self.empty:
            return lines
        runs = self._runs().select("_end", "_shift")
        wanted = pl.DataFrame({"_line": lines.cast(pl.UInt64)}).with_row_index("_row").sort("_line")
        got = wanted.join_asof(runs, left_on="_line", right_on="_end", strategy="backward", allow_exact_matches=False)
        got = got.with_columns((pl.col("_line") - pl.col("_shift").fill_null(0)).alias("_copy"))
        return got.sort("_row")["_copy"].cast(lines.dtype).alias(lines.name)


@dataclass
class Cleaning:
    """What cleaning a log did: lines cut, empty lines dropped (with the map back), bytes in and out."""

    long_lines: int = 0
    empty_dropped: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    line_map: LineMap = field(default_factory=LineMap)


def _plain_until(block: bytes, carried: int) -> int:
    """Where the whole lines of ``block`` end (one past its last line end), when it surely holds nothing
    cleaning would change, given that the line still open before it is ``carried`` bytes long; -1 when it
    may (then the caller cleans it, or reads the file as needing cleaning). A few ``find`` calls, no copy:
    the carried line with its end, the run probe, every window of half the limit (a line over the limit
    holds a whole one with no line end) and the line left open at the end."""
    half = LONG_LINE_BYTES // 2
    first = block.find(b"\n")
    if first < 0 or carried + first > LONG_LINE_BYTES or b"\n" * (RUN + 2) in block:
        return -1
    for i in range(0, len(block) - half + 1, half):
        if block.find(b"\n", i, i + half) == -1:
            return -1
    done = block.rfind(b"\n") + 1
    return done if len(block) - done <= LONG_LINE_BYTES else -1


def needs_cleaning(path: Path) -> bool:
    """Whether a plain log holds a line over LONG_LINE_BYTES or a long run of empty lines: one read in
    blocks, each checked with a few ``find`` calls (``_plain_until``). It may call a clean log unclean (a
    run split across two blocks is left whole by cleaning), never the reverse."""
    carried = 0  # length of the line still open at the end of the blocks read so far
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            if b"\n" not in block:  # a stretch of one line (a log cut mid-line ends in one)
                carried += len(block)
                if carried > LONG_LINE_BYTES:
                    return True
                continue
            done = _plain_until(block, carried)
            if done < 0:
                return True
            carried = len(block) - done
    return False


def file_blocks(path: Path, size: int = BLOCK) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(size):
            yield block


def clean(blocks: Iterable[bytes], out: BinaryIO) -> Cleaning:
    """Copy ``blocks`` (a log's bytes, in order) to ``out``, cutting long lines and collapsing runs of empty
    lines, at most a block and one line's first MiB in memory at a time. Where a run was dropped the map
    holds the copy's byte offset; ``resolve_lines`` turns those into line numbers once the copy is whole.

    Most blocks hold nothing to clean: ``_plain_until`` says so at byte-scan speed and they are written as
    they are, from a view, with neither the carried line joined to them nor their lines counted (joining
    and counting were two thirds of this copy's CPU on a clean log)."""
    result = Cleaning()
    carry = b""  # the unfinished last line of the previous block (shorter than the limit)
    cutting = False  # inside a long line, past what is kept of it
    for block in blocks:
        result.bytes_in += len(block)
        if not cutting and (done := _plain_until(block, len(carry))) >= 0:
            if carry:
                out.write(carry)
            out.write(memoryview(block)[:done])
            result.bytes_out += len(carry) + done
            carry = block[done:]
            continue
        if cutting:
            end = block.find(b"\n")
            if end == -1:
                continue
            out.write(b"\n")
            result.bytes_out += 1
            cutting = False
            block = block[end + 1 :]
        data = carry + block if carry else block
        carry = b""
        pos = 0
        while pos < len(data):
            run = _next_run(data, pos)
            long_at = _long_line(data, pos, run[0] if run else len(data))
            if long_at is not None:
                start, end = long_at
                piece = data[pos:start] + data[start : start + KEEP]
                out.write(piece)
                result.long_lines += 1
                result.bytes_out += len(piece)
                if end == -1:  # the long line goes on past this block
                    cutting = True
                    pos = len(data)
                    break
                out.write(b"\n")
                result.bytes_out += 1
                pos = end + 1
                continue
            if run is None:
                last = data.rfind(b"\n", pos)
                done = last + 1 if last >= 0 else pos
                if done > pos:
                    out.write(memoryview(data)[pos:done])
                    result.bytes_out += done - pos
                carry = data[done:]
                pos = len(data)
                break
            # keep the line the run's first line end closes and one empty line; drop the rest of the run
            piece = data[pos : run[0]] + b"\n\n"
            out.write(piece)
            result.bytes_out += len(piece)
            dropped = run[1] - run[0] - 2
            result.empty_dropped += dropped
            result.line_map.offsets.append(result.bytes_out)
            result.line_map.dropped.append(dropped)
            pos = run[1]
        if len(carry) > LONG_LINE_BYTES:  # cannot happen: _long_line saw it
            raise AssertionError("carried line over the limit")
    if carry:
        out.write(carry)
        result.bytes_out += len(carry)
    return result


def resolve_lines(cleaning: Cleaning, copy: Path) -> Cleaning:
    """``cleaning`` with its map's byte offsets in ``copy`` (what ``clean`` wrote, now whole) turned into
    the copy's line numbers: one count of line ends up to the last offset, for the rare log that had runs
    of empty lines dropped."""
    offsets = cleaning.line_map.offsets
    if not offsets:
        return cleaning
    at, lines, pos = [], 0, 0
    with open(copy, "rb") as fh:
        for offset in offsets:
            while pos < offset:
                block = fh.read(min(BLOCK, offset - pos))
                if not block:
                    raise ValueError(f"{copy}: shorter than its cleaning says")
                lines += block.count(b"\n")
                pos += len(block)
            at.append(lines)
    cleaning.line_map.at = at
    return cleaning


def _long_line(data: bytes, pos: int, until: int) -> tuple[int, int] | None:
    """The first line starting at or after ``pos`` (and before ``until``) longer than LONG_LINE_BYTES, as
    (start, end of line or -1 when it runs past ``data``); None when there is none. Windows of half the
    limit with no line end in them are the only places such a line can be."""
    half = LONG_LINE_BYTES // 2
    i = pos
    while i < until:
        if data.find(b"\n", i, min(i + half, len(data))) != -1:
            i += half
            continue
        if len(data) - i < half and i + half > len(data):
            # the block ends inside this window: a line still open here is carried (or cut) by the caller
            start = data.rfind(b"\n", pos, i) + 1 if data.rfind(b"\n", pos, i) >= 0 else pos
            if len(data) - start > LONG_LINE_BYTES:
                return start, -1
            return None
        start = data.rfind(b"\n", 0, i) + 1
        start = max(start, pos)
        end = data.find(b"\n", i)
        length = (end if end != -1 else len(data)) - start
        if length > LONG_LINE_BYTES:
            return start, end
        if end == -1:
            return None
        i = end + 1
    return None


def _record(scratch: Path, path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:32]
    return scratch / "cleaned" / f"{key}.json"


def save_cleaning(cleaning: Cleaning, scratch: Path, path: Path) -> None:
    """Remember that ``path`` was cleaned as it was unpacked (its line map and counts), for the parser."""
    record = _record(scratch, path)
    record.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "long_lines": cleaning.long_lines,
        "empty_dropped": cleaning.empty_dropped,
        "at": cleaning.line_map.at,
        "dropped": cleaning.line_map.dropped,
    }
    record.write_text(json.dumps(data))


def load_cleaning(scratch: Path, path: Path) -> Cleaning | None:
    """How ``path`` was cleaned as it was unpacked, or None when it was not."""
    record = _record(scratch, path)
    if not record.exists():
        return None
    data = json.loads(record.read_text())
    return Cleaning(
        long_lines=data["long_lines"],
        empty_dropped=data["empty_dropped"],
        line_map=LineMap(at=list(data["at"]), dropped=list(data["dropped"])),
    )
