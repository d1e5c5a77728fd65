#!/usr/bin/env python3
"""How fast ``etcd-perf ingest`` fills a store on Dask: N copies of the real OpenShift must-gathers in
tests/data/real, ingested with 1 and then 2 LocalCluster workers, each into a fresh store.

Each copy is a distinct bundle (a distinct content hash) holding the same etcd data: the real archive
recompressed once as .tar.gz, with a second gzip member of a few unique bytes appended (gzip readers read
through it; tar stops at its end-of-archive blocks before it). Reports bundles per minute, the speed-up
from the second worker, store bytes per bundle, and an estimate for 10,000 bundles on K workers.

    python3 benchmarks/fleet.py [--copies 6] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from etcd_perf.analyze.fleet.ingest import ingest  # noqa: E402

REAL = sorted((REPO / "tests" / "data" / "real").glob("*.tar.xz"))
WORK = REPO / ".work" / "bench" / "fleet"


def corpus(copies: int) -> list[Path]:
    out = []
    for src in REAL:
        base = WORK / (src.name.removesuffix(".tar.xz") + ".tar.gz")
        if not base.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            with lzma.open(src) as fin, gzip.open(base, "wb", compresslevel=6) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        for i in range(copies):
            copy = WORK / "copies" / f"{base.name.removesuffix('.tar.gz')}-{i:03d}.tar.gz"
            if not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base, copy)
                with open(copy, "ab") as f:
                    f.write(gzip.compress(f"copy {i}\n".encode()))
            out.append(copy)
    return out


def store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*.parquet"))


def run(copies: int) -> dict:
    bundles = corpus(copies)
    results = {"bundles": len(bundles), "cores": os.cpu_count(), "runs": []}
    for workers in (1, 2):
        store = WORK / f"store-{workers}"
        shutil.rmtree(store, ignore_errors=True)
        t = time.perf_counter()
        summary = ingest([str(b) for b in bundles], store, workers=workers)
        seconds = time.perf_counter() - t
        assert summary.analysed == len(bundles), summary.results
        results["runs"].append(
            {
                "workers": workers,
                "seconds": round(seconds, 2),
                "bundles_per_minute": round(len(bundles) / seconds * 60, 2),
                "store_bytes_per_bundle": store_bytes(store) // len(bundles),
                "task_seconds_mean": round(sum(r["seconds"] for r in summary.results) / len(bundles), 2),
            }
        )
    one, two = results["runs"]
    speedup = one["seconds"] / two["seconds"]
    results["speedup_2_workers"] = round(speedup, 2)
    # a worker's rate, and how much of a second worker's rate survives sharing the machine: the estimate
    # assumes K workers on K cores (separate machines or cores), which the 1-worker rate measures best
    per_worker = one["bundles_per_minute"]
    results["estimate_10000"] = {
        k: round(10_000 / (per_worker * k), 1) for k in (8, 32, 128)
    }  # minutes, at the 1-worker rate per worker
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=6, help="copies of each real bundle")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    r = run(args.copies)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"{r['bundles']} bundles ({len(REAL)} real must-gathers x {args.copies}), {r['cores']} cores")
    print("| workers | seconds | bundles/minute | mean task s | store bytes/bundle |")
    print("|---|---|---|---|---|")
    for run_ in r["runs"]:
        print(
            f"| {run_['workers']} | {run_['seconds']} | {run_['bundles_per_minute']} | {run_['task_seconds_mean']} "
            f"| {run_['store_bytes_per_bundle']:,} |"
        )
    print(f"speed-up with 2 workers: {r['speedup_2_workers']}x")
    for k, minutes in r["estimate_10000"].items():
        print(f"10,000 bundles on {k} workers: about {minutes} minutes")


if __name__ == "__main__":
    main()
