"""The message catalogue (``messages.yaml``): which etcd log lines become which typed events.

Kept as data so that a support engineer who meets a new wording adds one YAML entry, not code.
Validated on load, so a typo in a field name or a regex fails loudly in tests, not silently in
a customer's report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl

from etcd_perf.gather.yamlio import safe_yaml

FIELD_TYPES: dict[str, pl.DataType] = {
    "duration": pl.Float64(),
    "uint": pl.UInt64(),
    "int": pl.Int64(),
    "hex": pl.String(),
    "str": pl.String(),
    "bool": pl.Boolean(),
    "array": pl.String(),
}
LINE_FORMATS = ("zap", "capnslog", "raft", "text", "go", "shell")
LEVELS = ("debug", "info", "warn", "error", "dpanic", "panic", "fatal")  # zap's; capnslog's letters map onto them


@dataclass(frozen=True)
class MessageRule:
    """One wording of one etcd message."""

    kind: str
    subsystem: str
    needle: str
    formats: tuple[str, ...]
    match: str
    json: dict[str, str] = field(default_factory=dict)
    versions: str = ""
    # matched by the line's level, whatever its message: the needle is then a literal of the raw line
    levels: tuple[str, ...] = ()

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(re.compile(self.match).groupindex)


@dataclass(frozen=True)
class Catalogue:
    fields: dict[str, str]
    messages: tuple[MessageRule, ...]
    # what readers build from the catalogue once and reuse for every batch (logparse: each entry's query)
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        # the memo holds closures (not picklable) and is rebuilt where it is needed: a catalogue travels without it
        return {**self.__dict__, "memo": {}}

    def dtype(self, name: str) -> pl.DataType:
        return FIELD_TYPES[self.fields[name]]

    @property
    def needles(self) -> list[str]:
        """Every literal a candidate line holds (the raw-line prefilter)."""
        return sorted({m.needle for m in self.messages})

    @property
    def message_needles(self) -> list[str]:
        """The literals looked for in a line's message (entries matched by level have none)."""
        return sorted({m.needle for m in self.messages if not m.levels})

    @property
    def kinds(self) -> list[str]:
        return sorted({m.kind for m in self.messages})

    def kind_fields(self, kind: str) -> list[str]:
        """The fields any wording of ``kind`` fills: the columns of that kind's events frame."""
        names: set[str] = set()
        for m in self.messages:
            if m.kind == kind:
                names.update(m.json)
                names.update(m.groups)
        return sorted(names)

    def subsystem_of(self) -> dict[str, str]:
        return {m.kind: m.subsystem for m in self.messages}


# columns every event has, or the parser works with while it reads a line: a field of one of these names
# would overwrite them
RESERVED_NAMES = frozenset(
    [
        "line",
        "ts",
        "level",
        "fmt",
        "kind",
        "subsystem",
        "digest",
        "member",
        "file",
        "file_kind",
        "file_order",
        "raw",
        "text",
    ]
)


def _rule(entry: dict, declared: dict[str, str], where: str) -> MessageRule:
    missing = {"kind", "subsystem", "needle", "formats", "match"} - entry.keys()
    if missing:
        raise ValueError(f"{where}: missing {sorted(missing)}")
    formats = tuple(entry["formats"])
    bad = [f for f in formats if f not in LINE_FORMATS]
    if bad:
        raise ValueError(f"{where}: unknown formats {bad}")
    try:
        compiled = re.compile(entry["match"])
    except re.error as exc:
        raise ValueError(f"{where}: bad regex: {exc}") from exc
    json_map = dict(entry.get("json") or {})
    for name in [*compiled.groupindex, *json_map]:
        if name not in declared:
            raise ValueError(f"{where}: field {name!r} is not declared under 'fields'")
    if json_map and "zap" not in formats:
        raise ValueError(f"{where}: 'json' fields need the zap format")
    levels = tuple(str(v) for v in entry.get("levels") or ())
    bad_levels = [v for v in levels if v not in LEVELS]
    if bad_levels:
        raise ValueError(f"{where}: unknown levels {bad_levels} (known: {', '.join(LEVELS)})")
    return MessageRule(
        kind=str(entry["kind"]),
        subsystem=str(entry["subsystem"]),
        needle=str(entry["needle"]),
        formats=formats,
        match=str(entry["match"]),
        json=json_map,
        versions=str(entry.get("versions", "")),
        levels=levels,
    )


def parse_catalogue(data: dict, where: str = "messages.yaml") -> Catalogue:
    declared = {str(k): str(v) for k, v in (data.get("fields") or {}).items()}
    for name, typ in declared.items():
        if typ not in FIELD_TYPES:
            raise ValueError(f"{where}: field {name!r} has unknown type {typ!r}")
        if name in RESERVED_NAMES or name.startswith("_"):
            raise ValueError(f"{where}: field {name!r} is a name the parser uses itself (or begins with '_')")
    rules = tuple(_rule(e, declared, f"{where} entry {i}") for i, e in enumerate(data.get("messages") or []))
    return Catalogue(fields=declared, messages=rules)


def load_catalogue(path: Path | None = None) -> Catalogue:
    if path is None:
        return default_catalogue()
    return parse_catalogue(safe_yaml(path.read_text(encoding="utf-8")), str(path))


@cache
def default_catalogue() -> Catalogue:
    text = resources.files("etcd_perf.gather").joinpath("messages.yaml").read_text(encoding="utf-8")
    return parse_catalogue(safe_yaml(text))
