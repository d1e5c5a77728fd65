"""The output directory: every report file, written all at once or not at all.

Files are rendered into a sibling temp dir which then replaces the target in one rename, so a
crash or a full disk never leaves a half-overwritten analysis behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import orjson
import polars as pl

from etcd_perf.analyze.measures import in_window
from etcd_perf.analyze.redact import Redactor
from etcd_perf.analyze.render import render_html, render_json, render_markdown, render_text
from etcd_perf.analyze.window import Window
from etcd_perf.gather.bundle import Bundle
from etcd_perf.gather.errors import BundleError

DETAIL_LINES = 20_000
DETAIL_KINDS = {
    "disk_metrics.txt": ["wal_fsync_slow"],
    "backend_raw_logs.txt": ["apply_slow", "apply_failed"],
    "leader_metrics.txt": [
        "raft_election_start",
        "raft_became_candidate",
        "raft_became_precandidate",
        "raft_became_leader",
        "raft_became_follower",
        "raft_leader_elected",
        "raft_leader_lost",
        "raft_leader_changed",
        "raft_higher_term",
        "raft_no_leader",
        "heartbeat_slow",
        "tick_missed",
        "leadership_transfer",
    ],
    "network_metrics.txt": [
        "peer_unhealthy",
        "stream_lost",
        "peer_inactive",
        "peer_active",
        "message_dropped",
        "clock_drift",
    ],
    "compaction_metrics.txt": [
        "compaction_finished",
        "compaction_failed",
        "defrag_started",
        "defrag_finished",
        "defrag_failed",
    ],
}


def analysis_id(source: str, analysis: dict) -> str:
    """``<bundle name>-<collection time>``: from the bundle, never from the clock."""
    name = Path(source.rstrip("/")).name or "bundle"
    for suffix in (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "bundle"
    stamp = (analysis["bundle"]["collected_at"] or "undated").replace("-", "").replace(":", "")
    stamp = re.sub(r"\.\d+", "", stamp)
    return f"{name[:80]}-{stamp}"


DetailAreas = dict[str, tuple[pl.DataFrame, int]]  # area -> (the rows its file quotes, rows left out)


def detail_areas(bundle: Bundle, window: Window) -> DetailAreas:
    """The rows each detail file quotes: the most recent DETAIL_LINES of its area in the window (the
    bundle has the rest; a gigabyte of logs would otherwise be copied out)."""
    # only the quoted rows become text (categorical sorts as its text does)
    text = [pl.col(c).cast(pl.String) for c in ("member", "kind", "file")]
    order = ["ts", "member", "file", "line"]
    areas: DetailAreas = {}
    for name, ks in DETAIL_KINDS.items():
        area = bundle.events_where(in_window(window) & pl.col("kind").is_in(ks), [*order, "kind"])
        # only the rows that can be among the most recent are sorted: a sort of a 1 GiB bundle's 1.9 M rows
        # was its peak. Rows before the DETAIL_LINES-th latest time cannot be (undated ones sort first).
        recent = area
        if area.height > DETAIL_LINES:
            cut, dated = area.select(pl.col("ts").top_k(DETAIL_LINES).min().alias("cut"), pl.col("ts").count()).row(0)
            recent = area.filter(pl.col("ts") >= cut) if dated >= DETAIL_LINES else area
        kept = recent.sort(order).tail(DETAIL_LINES).with_columns(text)
        areas[name] = (kept.select("ts", "member", "kind", "file", "line"), area.height - kept.height)
    return areas


def detail_rows(areas: DetailAreas) -> pl.DataFrame:
    """Every row the detail files quote, to be read with the findings' evidence in one pass."""
    return pl.concat([kept for kept, _ in areas.values()])


def _detail_files(bundle: Bundle, window: Window, areas: DetailAreas | None = None) -> dict[str, bytes]:
    """The raw lines behind each area, quoted from the bundle in one read per log file."""
    areas = detail_areas(bundle, window) if areas is None else areas
    quoted = bundle.excerpts(detail_rows(areas))
    files = {}
    for name, (kept, left_out) in areas.items():
        lines = kept.join(quoted, on=["ts", "member", "kind", "file", "line"], how="left", maintain_order="left")
        files[name] = _detail_lines(lines, left_out)
    return files


def _detail_lines(rows: pl.DataFrame, left_out: int) -> bytes:
    if rows.height == 0:
        return b"# no such events in the analysis window\n"
    head = (
        f"# {left_out} earlier line(s) in the window are not repeated here: the most recent {DETAIL_LINES} are; "
        "the bundle has them all\n"
        if left_out
        else ""
    )
    text = rows.select(
        pl.format(
            "{} {} {} {}:{} {}",
            pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").fill_null("-"),
            pl.col("member"),
            pl.col("kind"),
            pl.col("file"),
            pl.col("line"),
            pl.col("excerpt").fill_null("").str.replace_all(r"[\x00-\x08\x0b-\x1f\x7f]", "\u00bf"),
        )
    ).to_series()
    return (head + "\n".join(text.to_list()) + "\n").encode("utf-8")


def _db_status(analysis: dict) -> bytes:
    lines = []
    for m in analysis["members"]:
        size, used = m["db_size_bytes"], m["db_in_use_bytes"]
        lines += [
            f"Member: {m['name']} ({m['id'] or '?'})",
            f"  Endpoint: {m['endpoint'] or '?'}",
            f"  DB Size: {size if size is not None else '?'} bytes",
            f"  DB In Use: {used if used is not None else '?'} bytes",
            f"  Fragmentation: {m['fragmentation_pct'] if m['fragmentation_pct'] is not None else '?'}%",
            f"  Quota: {m['db_quota_bytes'] if m['db_quota_bytes'] is not None else '?'} bytes",
            f"  Leader: {'YES' if m['is_leader'] else ('NO' if m['is_leader'] is False else '?')}",
            f"  Raft Term: {m['raft_term'] if m['raft_term'] is not None else '?'}",
            f"  Raft Index: {m['raft_index'] if m['raft_index'] is not None else '?'}",
            "",
        ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _topology(analysis: dict) -> bytes:
    topo = {
        "members": [
            {k: m[k] for k in ("name", "id", "id_decimal", "pod", "endpoint", "is_leader", "is_learner", "version")}
            for m in analysis["members"]
        ],
        "leader": analysis["cluster"]["leader"],
        "elections": analysis["cluster"]["elections"],
    }
    return orjson.dumps(topo, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def render_all(
    bundle: Bundle,
    window: Window,
    analysis: dict,
    export_html: bool,
    redactor: Redactor | None = None,
    areas: DetailAreas | None = None,
) -> dict[str, bytes]:
    """Every report file. With a redactor, ``analysis`` is the redacted one and the raw lines of the
    detail files are redacted here. ``areas`` are the detail files' rows when already chosen."""
    files = {
        "executive_performance_report.txt": render_text(analysis).encode("utf-8"),
        "analysis.json": render_json(analysis),
        "performance_report.md": render_markdown(analysis).encode("utf-8"),
        "cluster_topology.json": _topology(analysis),
        "db_status_summary.txt": _db_status(analysis),
    }
    details = _detail_files(bundle, window, areas)
    if redactor is not None:
        details = {name: redactor.text(data.decode("utf-8")).encode("utf-8") for name, data in details.items()}
    files.update(details)
    if export_html:
        files["performance_report.html"] = render_html(analysis).encode("utf-8")
    return files


REPORT_NAMES = (
    "executive_performance_report.txt",
    "analysis.json",
    "performance_report.md",
    "performance_report.html",
    "cluster_topology.json",
    "db_status_summary.txt",
)


COMPARE_NAMES = frozenset({"compare.json", "compare.txt", "compare.md", "compare.junit.xml", "compare.html"})
HISTORY_NAMES = frozenset({"history.json", "history.txt", "history.md", "history.html"})


def check_output_dir(directory: Path, ours: frozenset[str] | None = None) -> None:
    """Refuse an output directory that holds anything but an earlier analysis: the directory is replaced
    whole, and ``--output ~/case-1234`` must never take the customer's bundle or anyone's files with it."""
    if not directory.exists() and not directory.is_symlink():
        return
    if directory.is_symlink() or not directory.is_dir():
        raise BundleError(f"--output {directory}: not a directory; give a new or empty directory")
    ours = ours if ours is not None else frozenset({*REPORT_NAMES, *DETAIL_KINDS})
    what = {COMPARE_NAMES: "a comparison", HISTORY_NAMES: "a history"}.get(ours, "an analysis")
    foreign = sorted(p.name for p in directory.iterdir() if p.name not in ours or p.is_symlink() or not p.is_file())
    if foreign:
        raise BundleError(
            f"--output {directory}: holds {len(foreign)} file(s) {what} does not write ({foreign[0]}, ...): "
            "it would be replaced whole; give a new or empty directory"
        )


def write_outputs(directory: Path, files: dict[str, bytes], ours: frozenset[str] | None = None) -> None:
    """Every report, atomically: the directory is replaced whole (an earlier analysis only, see
    ``check_output_dir``) or, on any failure, left as it was."""
    check_output_dir(directory, ours)
    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        for name, data in sorted(files.items()):
            (staging / name).write_bytes(data)
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.rmdir(old)
            os.rename(directory, old)
        try:
            os.rename(staging, directory)
        except OSError:
            if old is not None:
                os.rename(old, directory)  # put the previous analysis back untouched
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
