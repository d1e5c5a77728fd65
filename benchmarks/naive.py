#!/usr/bin/env python3
"""The naive reference analyzer: what a straightforward Python script does with the same bundle.

It walks the must-gather's etcd pod logs, json-decodes every line, and answers the questions
etcd-perf's log analysis answers: per member, the logged slow fsyncs, slow applies and slow
request stats (count, p50, p99, max), late heartbeats, slow ReadIndex waits, the terms in which
a leader was elected, peer trouble, and the slow events per minute. It is written the obvious way,
on purpose not slow: one ``json.loads`` per line and a dict of message -> handler. It is the
yardstick etcd-perf's speed is measured against (benchmarks/run.py), so keep it honest.

    naive.py BUNDLE_DIR   -> one JSON document on stdout
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (?:(?:stdout|stderr) [FP] )?")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
ELECTED = re.compile(r"elected leader (\w+) at term (\d+)")
BECAME_LEADER = re.compile(r"became leader at term (\d+)")

SLOW = {
    "slow fdatasync": ("wal_fsync_slow", "took"),
    "apply request took too long": ("apply_slow", "took"),
    "request stats": ("request_stats", "time spent"),
    "waiting for ReadIndex response took too long, retrying": ("readindex_slow", None),
}
HEARTBEAT = "leader failed to send out heartbeat on time"
PEER = {"prober detected unhealthy status", "lost TCP streaming connection with remote peer", "peer became inactive"}


def duration_ms(text: str | None) -> float | None:
    if not text:
        return None
    total, found = 0.0, False
    for value, unit in DURATION.findall(text):
        total += float(value) * UNIT_MS[unit]
        found = True
    return -total if found and text.startswith("-") else (total if found else None)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def log_files(root: Path) -> list[tuple[str, Path]]:
    found = []
    for path in sorted(root.rglob("*.log*")):
        parts = path.parts
        if "logs" in parts and any(p.startswith("etcd-") and "guard" not in p for p in parts):
            pod = next(p for p in parts if p.startswith("etcd-") and p != "etcd")
            found.append((pod.removeprefix("etcd-"), path))
    return found


def analyse(root: Path) -> dict:
    took: dict[tuple[str, str], list[float]] = defaultdict(list)
    counts: Counter = Counter()
    per_minute: Counter = Counter()
    terms: dict[int, str] = {}
    lines = bad = 0
    for member, path in log_files(root):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                lines += 1
                body = PREFIX.sub("", raw, count=1)
                try:
                    entry = json.loads(body)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(entry, dict):
                    continue
                msg = entry.get("msg", "")
                kind = None
                if msg in SLOW:
                    kind, key = SLOW[msg]
                    if key:
                        ms = duration_ms(entry.get(key))
                        if ms is not None:
                            took[(member, kind)].append(ms)
                elif msg.startswith(HEARTBEAT):
                    kind = "heartbeat_slow"
                elif msg in PEER:
                    kind = "peer"
                elif (m := ELECTED.search(msg)) is not None:
                    terms.setdefault(int(m.group(2)), m.group(1))
                elif (m := BECAME_LEADER.search(msg)) is not None:
                    terms.setdefault(int(m.group(1)), member)
                if kind:
                    counts[(member, kind)] += 1
                    per_minute[(member, str(entry.get("ts", ""))[:16])] += 1
    stats = {
        f"{member}/{kind}": {
            "count": counts[(member, kind)],
            "p50_ms": percentile(values, 0.5),
            "p99_ms": percentile(values, 0.99),
            "max_ms": max(values) if values else None,
        }
        for (member, kind), values in sorted(took.items())
    }
    return {
        "lines": lines,
        "not_json": bad,
        "events": {f"{m}/{k}": n for (m, k), n in sorted(counts.items())},
        "slow": stats,
        "elections": len(terms),
        "worst_minute": max(per_minute.items(), key=lambda kv: kv[1])[0] if per_minute else None,
    }


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        sys.exit("usage: naive.py BUNDLE_DIR")
    json.dump(analyse(Path(args[0])), sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
