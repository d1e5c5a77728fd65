#!/usr/bin/env python3
"""Build a must-gather-shaped corpus of etcd logs of a given size from real lines.

The lines are the lab's (every bundle under bundles/ and tests/data/) plus the public real lines of
../shared/reference/real-log-lines.md; they are repeated with timestamps moving forward, for three
members, laid out as `oc adm must-gather` stores them (kubelet prefix, current/previous logs).
Built with polars, so 1 GiB takes seconds.

With ``--real``, the lines are only those of the two real OpenShift must-gathers in tests/data/real
(every etcd container log of every member: current and previous), so the corpus has what real clusters
log, fewer events per line than the lab's faults make.

    corpus.py OUT_DIR --mb 1024 [--real]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
REAL_LINES = REPO.parent / "shared" / "reference" / "real-log-lines.md"
ZAP_TS = r'"ts":"[^"]+"'


def source_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted((REPO / "bundles").rglob("*.log")) + sorted((REPO / "tests" / "data").rglob("*.log")):
        for raw in path.read_text(errors="replace").splitlines():
            body = raw.split(" ", 1)[1] if re.match(r"^\d{4}-\d\d-\d\dT\S+ ", raw) else raw
            if body.startswith("{") and '"ts":"' in body:
                lines.append(body)
    if REAL_LINES.exists():
        for raw in REAL_LINES.read_text(errors="replace").splitlines():
            if raw.startswith("{") and '"ts":"' in raw and raw.endswith("}"):
                lines.append(raw)
    return lines


def real_source_lines() -> list[str]:
    """The zap lines of every etcd container log in the real must-gathers (tests/data/real)."""
    lines: list[str] = []
    for archive in sorted((REPO / "tests" / "data" / "real").glob("*.tar.xz")):
        with tarfile.open(archive) as tf:
            for member in tf:
                name = member.name
                if not (member.isfile() and "/namespaces/openshift-etcd/pods/etcd-" in name and name.endswith(".log")):
                    continue
                if "/etcd/etcd/logs/" not in name:
                    continue
                text = tf.extractfile(member).read().decode(errors="replace")  # type: ignore[union-attr]
                for raw in text.splitlines():
                    body = raw.split(" ", 1)[1] if re.match(r"^\d{4}-\d\d-\d\dT\S+ ", raw) else raw
                    if body.startswith("{") and '"ts":"' in body:
                        lines.append(body)
    return lines


def build(out: Path, megabytes: int, start: str = "2026-01-01T00:00:00", real: bool = False) -> dict:
    base = pl.DataFrame({"body": real_source_lines() if real else source_lines()})
    base_bytes = int(base["body"].str.len_bytes().sum()) + 32 * base.height
    per_member = megabytes * 1024 * 1024 // 3
    repeats = max(1, per_member // base_bytes + 1)
    step_us = 2_000  # one line every 2 ms per member
    frame = (
        base.with_row_index("i")
        .join(pl.DataFrame({"r": range(repeats)}, schema={"r": pl.Int64}), how="cross")
        .with_columns(n=(pl.col("r") * base.height + pl.col("i")).cast(pl.Int64))
        .sort("n")
        .with_columns(
            ts=pl.lit(start).str.to_datetime(time_unit="us") + pl.duration(microseconds=pl.col("n") * step_us)
        )
        .with_columns(
            iso=pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
            prefix=pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.9fZ"),
        )
        .with_columns(
            line=pl.concat_str(
                pl.col("prefix"),
                pl.lit(" "),
                pl.col("body").str.replace(ZAP_TS, pl.concat_str(pl.lit('"ts":"'), pl.col("iso"), pl.lit('"'))),
            )
        )
    )
    total = 0
    lines = 0
    for member in ("master-0", "master-1", "master-2"):
        d = out / "namespaces" / "openshift-etcd" / "pods" / f"etcd-{member}" / "etcd" / "etcd" / "logs"
        d.mkdir(parents=True, exist_ok=True)
        text = "\n".join(frame["line"].to_list()) + "\n"
        data = text.encode()[:per_member]
        data = data[: data.rfind(b"\n") + 1]
        (d / "current.log").write_bytes(data)
        total += len(data)
        lines += data.count(b"\n")
    return {"bytes": total, "lines": lines, "files": 3}


def pack(out: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz", compresslevel=6) as tf:
        tf.add(out, arcname="must-gather.local.1")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--mb", type=int, default=1024)
    p.add_argument("--real", action="store_true", help="only the real must-gathers' lines (tests/data/real)")
    p.add_argument("--pack", type=Path, help="pack an existing corpus OUT into this .tar.gz instead")
    args = p.parse_args(argv)
    if args.pack:
        pack(Path(args.out), args.pack)
        return
    info = build(Path(args.out), args.mb, real=args.real)
    (Path(args.out) / ".built").write_text(json.dumps(info))
    print(f"{info['bytes'] / 2**20:.0f} MiB, {info['lines']} lines in {info['files']} files", file=sys.stderr)


if __name__ == "__main__":
    main()
