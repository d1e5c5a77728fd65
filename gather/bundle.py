"""A bundle, read: etcd_info records, pod specs, and typed events (one frame per kind) for all members.

This is the hand-over point between ``gather`` and ``analyze``: everything downstream works on
this object and never opens a file of the bundle again. Paths in it are labels relative to the
bundle root (the archive member names), so reports point the reader at the exact file.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import lzma
import re
import shutil
import weakref
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from etcd_perf.gather.archive import OpenedBundle
from etcd_perf.gather.catalogue import Catalogue, default_catalogue
from etcd_perf.gather.etcd_info import EtcdInfo, add_status_failures, read_etcd_info
from etcd_perf.gather.identity import Identity, read_identity
from etcd_perf.gather.layout import Layout, LogFileRef, discover, is_member_pod, log_kind_of, member_of_pod
from etcd_perf.gather.logparse import (
    BASE_SCHEMA,
    FileFrames,
    KindFrames,
    LineStats,
    collected,
    conform,
    event_schema,
    file_excerpts,
    parse_file,
)
from etcd_perf.gather.metrics import KEPT_SCHEMA, MetricsFile, find_metric_files, read_metrics_file
from etcd_perf.gather.pagecache import DroppingWriter
from etcd_perf.gather.platform import Platform, read_platform
from etcd_perf.gather.podspec import PodSpec, read_pod_list, read_pod_spec
from etcd_perf.gather.sanitize import (
    BLOCK,
    Cleaning,
    LineMap,
    clean,
    file_blocks,
    load_cleaning,
    needs_cleaning,
    resolve_lines,
)

CRI_TAGGED = re.compile(rb"^\S+ (?:stdout|stderr) [FP] ")
TIMESTAMP_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? ([+-]\d{4})")

METRICS_FRAME_SCHEMA = {**KEPT_SCHEMA, "member": pl.Categorical()}  # the samples, each with its member


@dataclass
class LogFileInfo:
    member: str
    pod: str
    file: str
    kind: str
    order: int
    bytes: int
    stats: LineStats
    problems: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return DAMAGED_GZ in self.problems or DAMAGED_XZ in self.problems


@dataclass
class Bundle:
    source: str
    format: str
    collected_at: datetime | None
    collected_at_source: str
    info: EtcdInfo
    pods: dict[str, PodSpec]
    pod_dirs: list[str]
    member_names: list[str]
    log_files: list[LogFileInfo]
    kind_events: KindFrames  # kind -> its events (base columns and that kind's fields), in time order
    id_names: dict[str, str]
    metrics: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=METRICS_FRAME_SCHEMA))
    metrics_files: list[MetricsFile] = field(default_factory=list)
    manifest: dict | None = None
    etcd_info_dir: str | None = None
    problems: list[str] = field(default_factory=list)
    damaged: bool = False  # the archive, or a compressed log in it, is truncated or damaged
    refused: int = 0  # archive members not extracted (unsafe paths, links, devices, FIFOs)
    skipped: int = 0  # archive members not unpacked because they cannot hold etcd data
    sources: dict[str, LogSource] = field(default_factory=dict)
    platform: Platform = field(default_factory=Platform)  # installer pods, revisions, Kubernetes events
    identity: Identity = field(default_factory=Identity)  # which cluster: OpenShift's and etcd's cluster IDs
    catalogue: Catalogue = field(default_factory=default_catalogue)
    # lines already read back for quoting: file, line, excerpt
    _quoted: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=QUOTED_SCHEMA), init=False, repr=False, compare=False
    )

    @property
    def events(self) -> pl.DataFrame:
        """Every event of every kind, base columns only (when, who, what, where), kind after kind, each in
        time order. The fields live in the per-kind frames (``of``): one wide frame would carry every field of
        every kind, mostly null, on every row. The analysis asks ``events_where`` for what it needs."""
        return self.events_where()

    @property
    def event_count(self) -> int:
        return sum(f.height for f in self.kind_events.values())

    def events_where(self, predicate: pl.Expr | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """``events`` that meet ``predicate`` (on the base columns), with only ``columns`` if given: each kind
        is filtered before they are put together, and nothing is kept. A frame of every event kept for the
        whole run was 100 MB of a 1 GiB bundle's peak, and most asks want a slice of it."""
        base = bundle_event_schema(self.catalogue)
        columns = columns or EVENT_BASE
        parts = [f.lazy().select(EVENT_BASE) for _, f in sorted(self.kind_events.items())]
        if not parts:
            return pl.DataFrame(schema={c: base[c] for c in columns})
        query = pl.concat(parts, how="vertical")
        if predicate is not None:
            query = query.filter(predicate)
        return query.select(columns).collect()

    def of(self, *kinds: str, columns: list[str] | None = None) -> pl.DataFrame:
        """The events of these kinds, in time order, with the base columns and every field of those kinds
        (the schema comes from the catalogue, so it is the same whether or not a kind occurred). With
        ``columns``, only those (and the time-order keys): the big text fields are then never copied."""
        parts = self._parts(kinds, columns)
        if not parts:
            return pl.DataFrame(schema=self._schema(kinds, columns))
        if len(parts) == 1:
            return parts[0].collect()
        return self.scan(*kinds, columns=columns).sort(EVENT_ORDER, nulls_last=True, maintain_order=True).collect()

    def scan(self, *kinds: str, columns: list[str] | None = None) -> pl.LazyFrame:
        """``of`` as a query, kind after kind (each in time order; ``EVENT_ORDER`` sorts them together): a
        step that reduces the events before it sorts them never copies their texts."""
        parts = self._parts(kinds, columns)
        if not parts:
            return pl.LazyFrame(schema=self._schema(kinds, columns))
        return pl.concat(parts, how="vertical")

    def _schema(self, kinds: tuple[str, ...], columns: list[str] | None) -> dict[str, pl.DataType]:
        schema = {c: t for c, t in bundle_event_schema(self.catalogue).items() if c in EVENT_BASE}
        for kind in kinds:
            schema.update(bundle_event_schema(self.catalogue, kind))
        if columns is not None:
            keep = set(columns) | set(EVENT_ORDER)
            schema = {c: t for c, t in schema.items() if c in keep}
        return schema

    def _parts(self, kinds: tuple[str, ...], columns: list[str] | None) -> list[pl.LazyFrame]:
        schema = self._schema(kinds, columns)
        frames = [self.kind_events.get(kind) for kind in sorted(set(kinds))]
        return [conform(f.lazy(), schema) for f in frames if f is not None and f.height > 0]

    def excerpts(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (with ``file`` and ``line``) plus ``excerpt``, the text of that line, read back from the
        bundle once per file: events keep only where they were found, never the whole line.

        Lines read are kept, so a report that asks for the lines of all its parts at once (the findings'
        evidence and the detail files) scans each file once, and later asks read nothing again."""
        rows = rows.with_columns(pl.col("file").cast(pl.String), pl.col("line").cast(pl.UInt64))
        wanted = rows.select("file", "line").unique()
        if self._quoted.height:
            wanted = wanted.join(self._quoted.select("file", "line"), on=["file", "line"], how="anti")
        found = [self._quoted]
        for (file,), part in sorted(wanted.partition_by("file", as_dict=True).items()):
            source = self.sources.get(file)
            if source is None or not source.path.exists():
                continue
            line_map = source.line_map or LineMap()
            copy_lines = line_map.to_copy_lines(part["line"])
            text = file_excerpts(source.path, source.join_partials, copy_lines, source.chunk_starts, source.ours)
            text = line_map.to_file_lines(text)
            found.append(text.with_columns(file=pl.lit(file)).select(list(QUOTED_SCHEMA)))
        self._quoted = pl.concat(found, how="vertical")
        return rows.join(self._quoted, on=["file", "line"], how="left", maintain_order="left")

    @property
    def log_span(self) -> tuple[datetime | None, datetime | None]:
        """Earliest and latest log time over all files (None when no line is dated)."""
        firsts = [f.stats.first_ts for f in self.log_files if f.stats.first_ts is not None]
        lasts = [f.stats.last_ts for f in self.log_files if f.stats.last_ts is not None]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def _decompressed_blocks(path: Path, problems: list[str]) -> Iterator[bytes]:
    """The file's bytes a block at a time, gunzipped or unxz'd as needed (never whole in memory); a truncated
    or damaged stream yields what was readable and says so in ``problems``."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic[:2] == b"\x1f\x8b":
        opener, note, errors = gzip.open, DAMAGED_GZ, (OSError, EOFError, zlib.error)
    elif magic == b"\xfd7zXZ\x00":
        opener, note, errors = lzma.open, DAMAGED_XZ, (lzma.LZMAError, EOFError, OSError)
    else:
        yield from file_blocks(path)
        return
    with opener(path, "rb") as stream:
        while True:
            try:
                block = stream.read(BLOCK)
            except errors:
                problems.append(note)
                return
            if not block:
                return
            yield block


def _utf8_lossy(blocks: Iterable[bytes], problems: list[str]) -> Iterator[bytes]:
    """Blocks with invalid UTF-8 replaced by U+FFFD (a sequence cut between two blocks is decoded whole)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    replaced = False
    for block in blocks:
        text = decoder.decode(block)
        replaced = replaced or "\ufffd" in text
        yield text.encode("utf-8")
    tail = decoder.decode(b"", final=True)
    replaced = replaced or "\ufffd" in tail
    if tail:
        yield tail.encode("utf-8")
    if replaced:
        problems.append("invalid UTF-8 replaced with U+FFFD")


def _ends(blocks: Iterable[bytes], last: list[bytes]) -> Iterator[bytes]:
    """The blocks, remembering the last byte seen (a file cut off mid-line has no line end)."""
    for block in blocks:
        if block:
            last[0] = block[-1:]
        yield block


CUT_OFF = "the last line has no line end: the file was cut off mid-line"
DAMAGED_GZ = "compressed log is truncated or damaged; read what was readable"
DAMAGED_XZ = "xz log is damaged"


def _cut_off(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) != b"\n"


def _fingerprint(path: Path) -> tuple[int, str]:
    """Size and a hash of the first and last MiB: equal for copies of one file, cheap for big ones."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(size - (1 << 20))
        digest.update(fh.read(1 << 20))
    return size, digest.hexdigest()


def _duplicate_files(refs: list[tuple[str, LogFileRef]]) -> list[str]:
    """Log files of the bundle with identical content (hand-repacked bundles often have them). Events
    are deduplicated per member, so a copy under another member's pod is said to count twice."""
    seen: dict[tuple[int, str], tuple[str, str]] = {}
    notes = []
    for member, ref in refs:
        if ref.path.stat().st_size == 0:
            continue
        key = _fingerprint(ref.path)
        if key not in seen:
            seen[key] = (member, ref.rel)
            continue
        first_member, first = seen[key]
        counted = (
            "its events are counted once"
            if member == first_member
            else f"it is filed under another member ({member}, not {first_member}), so its events count for both"
        )
        notes.append(f"{ref.rel} has the same content as {first}; {counted}")
    return notes


@dataclass(frozen=True)
class LogSource:
    """What a log file's lines are read from: the file itself, or its decompressed / cleaned copy (with the
    map from the copy's line numbers to the file's, where empty lines were dropped)."""

    path: Path
    join_partials: bool
    line_map: LineMap | None = None
    chunk_starts: tuple[tuple[int, int], ...] = ()  # where the stretches it was parsed in start (line, byte)
    ours: bool = False  # a copy in our private directory, kept out of the page cache (gather/pagecache.py)


def _read_log(
    ref: LogFileRef, catalogue: Catalogue, scratch: Path, name: str
) -> tuple[FileFrames, LineStats, list[str], LogSource | None]:
    """One log to events. A compressed log, or one holding a line over 1 MiB or a long run of empty lines
    (gather/sanitize.py), is parsed from a cleaned copy streamed to ``scratch``; invalid UTF-8 is replaced
    on a second pass. Memory stays bounded by the block size whatever the file holds.

    A file in our private directory (``scratch``'s parent: an unpacked archive's member) and every copy
    made here are ours, read once: they are kept out of the page cache (gather/pagecache.py)."""
    problems: list[str] = []
    ours = scratch.parent in ref.path.parents
    with open(ref.path, "rb") as fh:
        head = fh.read(4096)
    compressed = head[:2] == b"\x1f\x8b" or head[:6] == b"\xfd7zXZ\x00"
    join = ref.kind == "rotated" or bool(CRI_TAGGED.match(head))
    unpacked = load_cleaning(scratch, ref.path)  # cleaned as the archive was unpacked
    if not compressed and (unpacked is not None or not needs_cleaning(ref.path)):
        if _cut_off(ref.path):
            problems.append(CUT_OFF)
        try:
            events, stats = parse_file(ref.path, catalogue, join, scratch / f"{name}.events", ours)
            cleaning = unpacked or Cleaning()
            return (
                *_as_in_file(events, stats, cleaning),
                problems,
                LogSource(ref.path, join, cleaning.line_map, stats.chunk_starts, ours),
            )
        except pl.exceptions.ComputeError:
            invalid_utf8 = True  # somewhere: a lossy copy below
    else:
        invalid_utf8 = False
    copy = scratch / f"{name}.log"
    for lossy in (True,) if invalid_utf8 else (False, True):
        problems = []
        last = [b"\n"]
        blocks = _ends(_decompressed_blocks(ref.path, problems), last)
        with open(copy, "wb") as out:
            sink = DroppingWriter(out)
            cleaning = clean(_utf8_lossy(blocks, problems) if lossy else blocks, sink)
            sink.finish()
        cleaning = resolve_lines(cleaning, copy)
        if cleaning.bytes_in and last[0] != b"\n":
            problems.append(CUT_OFF)
        if not cleaning.bytes_out:
            return {}, LineStats(by_format={}), problems, None
        try:
            events, stats = parse_file(copy, catalogue, join, scratch / f"{name}.events", uncached=True)
            break
        except pl.exceptions.ComputeError:
            if lossy:
                raise
    if unpacked is not None:  # cleaned twice: the line numbers of the first copy are those of the file
        cleaning = _combined(unpacked, cleaning)
    source = LogSource(copy, join, cleaning.line_map, stats.chunk_starts, ours=True)
    return *_as_in_file(events, stats, cleaning), problems, source


def _as_in_file(events: FileFrames, stats: LineStats, cleaning: Cleaning) -> tuple[FileFrames, LineStats]:
    """Events and statistics of a cleaned copy, told in the file's terms: its line numbers, its lines."""
    if cleaning.line_map.empty and not cleaning.long_lines:
        return events, stats
    events = {kind: cleaning.line_map.to_file_lines(frame) for kind, frame in collected(events).items()}
    stats.lines += cleaning.empty_dropped
    stats.long_lines += cleaning.long_lines
    by_format = dict(stats.by_format or {})
    if cleaning.empty_dropped:
        by_format["empty"] = by_format.get("empty", 0) + cleaning.empty_dropped
    stats.by_format = dict(sorted(by_format.items()))
    return events, stats


def _combined(first: Cleaning, second: Cleaning) -> Cleaning:
    """Two cleanings one after the other as one. The second of a file already clean drops nothing (no run
    is left, no long line): only a lossy re-decode makes one, and it keeps every line; so its map is empty
    and the first's stands."""
    return Cleaning(
        long_lines=first.long_lines + second.long_lines,
        empty_dropped=first.empty_dropped + second.empty_dropped,
        line_map=first.line_map if second.line_map.empty else second.line_map,
    )


def _collected_at(layout: Layout, manifest: dict | None) -> tuple[datetime | None, str]:
    if manifest and isinstance(manifest.get("collected_at"), str):
        stamp = _utc(manifest["collected_at"].replace("Z", "+00:00"))
        if stamp is not None:
            return stamp, "manifest"
    if layout.timestamp_file is not None:
        stamps = []
        for line in layout.timestamp_file.read_text(errors="replace").splitlines():
            m = TIMESTAMP_LINE.match(line.strip())
            if m:
                frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
                off = m.group(3)
                stamp = _utc(f"{m.group(1)}.{frac}{off[:3]}:{off[3:]}")
                if stamp is not None:
                    stamps.append(stamp)
        if stamps:
            return max(stamps), "must-gather timestamp file"
    return None, "newest log line"


def _utc(text: str) -> datetime | None:
    """An ISO time in UTC (one without a zone is UTC: never the analysing machine's zone); None for an
    impossible date, zone or year."""
    try:
        stamp = datetime.fromisoformat(text)
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


MAX_MANIFEST_BYTES = 64 << 20  # collect.sh's bundle.json is kilobytes


def _read_manifest(layout: Layout, problems: list[str]) -> dict | None:
    if layout.manifest is None:
        return None
    if layout.manifest.stat().st_size > MAX_MANIFEST_BYTES:
        problems.append(f"{layout.rel(layout.manifest)} is over {MAX_MANIFEST_BYTES >> 20} MiB: not read")
        return None
    try:
        data = json.loads(layout.manifest.read_bytes().decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        problems.append(f"{layout.rel(layout.manifest)} is not valid JSON")
        return None
    if not isinstance(data, dict):
        return None
    commands = data.get("commands")
    for cmd in commands if isinstance(commands, list) else []:
        if isinstance(cmd, dict) and cmd.get("exit_status") not in (0, None):
            words = cmd.get("command")
            words = " ".join(str(w) for w in words) if isinstance(words, list) else str(words or "")
            err = " ".join(str(cmd.get("stderr") or "").split())[:200]
            problems.append(f"collect step failed (exit {cmd.get('exit_status')}): {words}: {err}")
    return data


def _pod_specs(layout: Layout, problems: list[str]) -> dict[str, PodSpec]:
    specs = read_pod_list(layout.pod_list_yaml) if layout.pod_list_yaml else {}
    for pod in layout.pods:
        if pod.yaml is None:
            continue
        spec, problem = read_pod_spec(pod.yaml)
        if problem:
            problems.append(f"{pod.rel}: {problem}")
        if spec is not None:
            specs[pod.name] = spec
    return specs


EVENT_BASE = ["ts", "member", "file", "file_kind", "file_order", "line", "level", "fmt", "kind", "subsystem"]
EVENT_ORDER = ["ts", "member", "file_order", "line"]
QUOTED_SCHEMA = {"file": pl.String, "line": pl.UInt64, "excerpt": pl.String}
# few distinct values each: categorical (4 bytes a row) rather than text (16 bytes a row even when short)
CATEGORICAL = ["member", "file", "file_kind", "level", "fmt", "kind", "subsystem"]


def bundle_event_schema(catalogue: Catalogue, kind: str | None = None) -> dict[str, pl.DataType]:
    """The columns of the bundle's events of ``kind`` (of the base frame without one), digest dropped."""
    schema: dict[str, pl.DataType] = {
        "member": pl.Categorical(),
        "file": pl.Categorical(),
        "file_kind": pl.Categorical(),
        "file_order": pl.Int32(),
    }
    schema.update(event_schema(catalogue, kind) if kind else BASE_SCHEMA)
    schema.pop("digest")
    for name in CATEGORICAL:
        schema[name] = pl.Categorical()
    return schema


def _dedupe_overlaps(events: pl.DataFrame) -> pl.DataFrame:
    """Rotated, previous and current logs overlap: an event seen in two files counts once."""
    if events.height == 0:
        return events
    keys = ["member", "ts", "kind", "digest"]
    first_seen = events.select(
        pl.col("file_order") == pl.col("file_order").min().over(keys, mapping_strategy="group_to_rows")
    ).to_series()
    # a filter copies every column: skip it when no event was seen twice (one file per member, say)
    return events if first_seen.all() else events.filter(first_seen)


def _id_names(info: EtcdInfo, events: pl.DataFrame) -> dict[str, str]:
    """Hex member ID -> name, from etcd_info, else from what each member's log says its own ID is
    (``events``: the server_identity, member_restarting and member_starting events)."""
    names: dict[str, str] = {}
    for m in info.members:
        if m.name:
            names[format(m.id, "x")] = m.name
    if events.height:
        own = (
            events.filter(pl.col("local_id").is_not_null())
            .select("local_id", pl.col("member").cast(pl.String))
            .unique()
            .sort("local_id", "member")
        )
        for local_id, member in own.iter_rows():
            names.setdefault(local_id, member)
    return names


Progress = Callable[[int, int], None]  # (log bytes read so far, log bytes in all)


def load_bundle(
    opened: OpenedBundle,
    source_label: str,
    catalogue: Catalogue | None = None,
    progress: Progress | None = None,
    prefetch: Prefetch | None = None,
    metric_families: Iterable[str] | None = None,
) -> Bundle:
    """The bundle's model. ``metric_families``: the only Prometheus families to keep (the analysis names the
    ones it reads); the others in a dump are skipped unparsed. None keeps every family."""
    catalogue = catalogue or default_catalogue()
    layout = discover(opened.root)
    problems = list(opened.problems)
    manifest = _read_manifest(layout, problems)
    info = read_etcd_info(layout.etcd_info)
    if manifest:  # what the collection itself recorded: etcdctl's stderr names endpoints that did not answer
        commands = manifest.get("commands") if isinstance(manifest.get("commands"), list) else []
        add_status_failures(
            info, [c["stderr"] for c in commands if isinstance(c, dict) and isinstance(c.get("stderr"), str)]
        )
    if layout.etcd_info is not None:
        info.problems = [p.replace("etcd_info/", layout.rel(layout.etcd_info) + "/", 1) for p in info.problems]
    pods = {name: spec for name, spec in _pod_specs(layout, problems).items() if is_member_pod(name)}
    platform = read_platform(
        # each pod's own YAML before the namespace's PodList: the first copy of a pod is the one kept
        [(p, layout.rel(p)) for p in sorted(layout.platform_pod_yamls, key=lambda p: p.name == "pods.yaml")],
        [(p, layout.rel(p)) for p in layout.event_files],
        [(p, layout.rel(p)) for p in layout.node_event_files],
    )
    problems += platform.problems
    identity = read_identity(
        layout.clusterversion, layout.rel(layout.clusterversion) if layout.clusterversion else None, info
    )
    problems += identity.problems

    frames, files, sources = _read_logs(layout, catalogue, opened.scratch, progress, prefetch)
    kind_events = _assemble(frames, catalogue)

    collected_at, source = _collected_at(layout, manifest)
    if collected_at is None:
        last = [f.stats.last_ts for f in files if f.stats.last_ts is not None]
        collected_at = max(last) if last else None
        source = "newest log line" if last else "unknown"

    problems += _duplicate_files([(pod.member, ref) for pod in layout.pods for ref in pod.logs])
    metrics, metrics_files = _read_metrics(layout, info, collected_at, metric_families)
    member_names = sorted({p.member for p in layout.pods} | {m.name for m in info.members if m.name})
    if not layout.pods:
        problems.append("no etcd pod logs found (namespaces/openshift-etcd/pods/etcd-*/etcd/etcd/logs)")
    bundle = Bundle(
        source=source_label,
        format="collect bundle"
        if manifest
        else ("must-gather " + opened.format if opened.format != "directory" else "must-gather directory"),
        collected_at=collected_at,
        collected_at_source=source,
        info=info,
        pods=pods,
        pod_dirs=[p.rel for p in layout.pods],
        member_names=member_names,
        log_files=files,
        kind_events=kind_events,
        id_names=_id_names(info, _of(kind_events, ["server_identity", "member_restarting", "member_starting"])),
        metrics=metrics,
        metrics_files=metrics_files,
        manifest=manifest,
        etcd_info_dir=layout.rel(layout.etcd_info) if layout.etcd_info else None,
        problems=problems,
        damaged=opened.damaged or any(f.damaged for f in files),
        refused=opened.refused,
        skipped=opened.skipped,
        sources=sources,
        platform=platform,
        identity=identity,
        catalogue=catalogue,
    )
    # The bundle quotes its lines later (excerpts): it keeps the unpacked files until it is gone.
    if opened.workdir is not None:
        opened.adopted = True
        weakref.finalize(bundle, shutil.rmtree, opened.workdir, True)
    return bundle


def _of(kind_events: KindFrames, kinds: list[str]) -> pl.DataFrame:
    parts = [kind_events[k].select("member", "local_id") for k in kinds if k in kind_events]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"member": pl.Categorical, "local_id": pl.String})


def _assemble(files: list[tuple[FileFrames, dict]], catalogue: Catalogue) -> KindFrames:
    """Each kind's events over all files: labelled with member and file, deduplicated, in time order."""
    by_kind: dict[str, list[pl.DataFrame]] = {}
    for frames, labels in files:
        for kind, frame in frames.items():
            by_kind.setdefault(kind, []).append(
                frame.with_columns(
                    member=pl.lit(labels["member"], dtype=pl.Categorical),
                    file=pl.lit(labels["file"], dtype=pl.Categorical),
                    file_kind=pl.lit(labels["file_kind"], dtype=pl.Categorical),
                    file_order=pl.lit(labels["file_order"], dtype=pl.Int32),
                )
            )
    # only a member's later files can repeat its events (rotated, previous and current logs overlap)
    overlap = max(Counter(labels["member"] for _, labels in files).values(), default=0) > 1
    out: KindFrames = {}
    for kind, parts in sorted(by_kind.items()):
        schema = bundle_event_schema(catalogue, kind)
        keep = [pl.col(c).cast(t) for c, t in schema.items()] + ([pl.col("digest")] if overlap else [])
        # spilled events are read back here, a kind at a time, streamed: their texts are made categories as
        # they are read, never held as text beside them (the order is the sort's, on keys no two events share)
        events = pl.concat([p.lazy() for p in parts], how="vertical").select(keep).collect(engine="streaming")
        if overlap:
            events = _dedupe_overlaps(events).drop("digest")
        out[kind] = events.sort(EVENT_ORDER, nulls_last=True)
    return out


def _endpoint_names(info: EtcdInfo) -> tuple[dict[str, str], dict[str, str]]:
    """host:port -> member and host -> member (hosts only where one member has them)."""
    netlocs: dict[str, str] = {}
    hosts: dict[str, set[str]] = {}
    for m in info.members:
        if not m.name:
            continue
        for url in m.client_urls + m.peer_urls:
            netloc = urlsplit(url).netloc
            if netloc:
                netlocs[netloc] = m.name
                hosts.setdefault(netloc.rsplit(":", 1)[0], set()).add(m.name)
    return netlocs, {h: next(iter(n)) for h, n in hosts.items() if len(n) == 1}


def _read_metrics(
    layout: Layout, info: EtcdInfo, collected_at: datetime | None, families: Iterable[str] | None = None
) -> tuple[pl.DataFrame, list[MetricsFile]]:
    """Every metrics file, each sample labelled with its member (pod label, instance, or file name)."""
    frames, files = [], []
    netlocs, hosts = _endpoint_names(info)
    for path in find_metric_files(layout.root):
        frame, meta = read_metrics_file(path, layout.rel(path), collected_at, families)
        stem = path.name[: -len(".prom")] if path.name.endswith(".prom") else None
        from_file = member_of_pod(stem) if stem else None
        # the member of each (pod, instance): worked out once per pair, not once per sample
        pairs = frame.select("pod", "instance").unique().cast(pl.String)
        pairs = pairs.with_columns(
            member=pl.coalesce(
                pl.when(pl.col("pod").str.starts_with("etcd-"))
                .then(pl.col("pod").str.slice(5))
                .otherwise(pl.col("pod")),
                pl.col("instance").replace_strict(netlocs, default=None, return_dtype=pl.String),
                pl.col("instance")
                .str.replace(r":\d+$", "")
                .replace_strict(hosts, default=None, return_dtype=pl.String),
                pl.lit(from_file, dtype=pl.String),
            ).cast(pl.Categorical())
        ).cast({"pod": pl.Categorical(), "instance": pl.Categorical()})
        frame = frame.join(pairs, on=["pod", "instance"], how="left", nulls_equal=True, maintain_order="left")
        frames.append(frame)
        files.append(meta)
    if not frames:
        return pl.DataFrame(schema=METRICS_FRAME_SCHEMA), files
    return pl.concat(frames, how="vertical"), files


PARSE_WORKERS = 3  # files parsed at once: each has serial steps that leave a core idle; three keep both busy


class Prefetch:
    """Parses an archive's etcd logs while the rest of it is still being unpacked.

    Unpacking a .tar.gz is one core's work (gunzip); the logs are most of a bundle's bytes, and each
    can be parsed as soon as it is on disk. ``offer`` is ``open_bundle``'s ``on_file``; ``load_bundle``
    takes a prefetched result only for the very file and kind its layout chose, so the outcome is the
    same as without: a member unpacked again voids its earlier parse, one cut short is never offered.
    """

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or default_catalogue()
        self._pool = ThreadPoolExecutor(max_workers=PARSE_WORKERS)
        self._jobs: dict[str, tuple[str, Future]] = {}
        self._started = 0

    def offer(self, rel: str, path: Path | None, scratch: Path) -> None:
        old = self._jobs.pop(rel, None)
        if old is not None:
            old[1].cancel()
        kind = log_kind_of(rel)
        if path is None or kind is None:
            return
        ref = LogFileRef(path, rel, kind, ())
        self._started += 1
        self._jobs[rel] = (kind, self._pool.submit(_read_log, ref, self.catalogue, scratch, f"p{self._started}"))

    def take(self, ref: LogFileRef) -> Future | None:
        job = self._jobs.pop(ref.rel, None)
        return job[1] if job is not None and job[0] == ref.kind else None

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _read_logs(
    layout: Layout, catalogue: Catalogue, scratch: Path, progress: Progress | None, prefetch: Prefetch | None = None
) -> tuple[list[tuple[FileFrames, dict]], list[LogFileInfo], dict[str, LogSource]]:
    """Every etcd log of the bundle to events, a few files at a time; results are taken in file order,
    so the outcome does not depend on which file finished first."""
    refs = [(pod, ref) for pod in layout.pods for ref in pod.logs]
    sizes = [ref.path.stat().st_size for _, ref in refs]
    frames: list[tuple[FileFrames, dict]] = []
    files: list[LogFileInfo] = []
    sources: dict[str, LogSource] = {}
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:
        if prefetch is not None and prefetch.catalogue is not catalogue:
            prefetch = None
        jobs = [
            (prefetch and prefetch.take(ref)) or pool.submit(_read_log, ref, catalogue, scratch, str(order))
            for order, (_, ref) in enumerate(refs)
        ]
        for order, ((pod, ref), job, size) in enumerate(zip(refs, jobs, sizes, strict=True)):
            events, stats, problems, source = job.result()
            if source is not None:
                sources[ref.rel] = source
            files.append(LogFileInfo(pod.member, pod.name, ref.rel, ref.kind, order, size, stats, problems))
            frames.append((events, {"member": pod.member, "file": ref.rel, "file_kind": ref.kind, "file_order": order}))
            if progress is not None:
                progress(sum(sizes[: order + 1]), sum(sizes))
    return frames, files, sources
