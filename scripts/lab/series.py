#!/usr/bin/env python3
"""A series of bundles of one real cluster, for ``etcd-perf ingest`` and ``history``: the same 3-member
etcd cluster under a steady, known write load, collected ``--count`` times with the real collect.sh, one
follower's disk throttled from the ``--step-at``-th bundle on.

The load is one writer putting new keys (never overwritten, never compacted) of ``VALUE_BYTES`` to the
leader at a fixed rate, so the DB grows at a known, steady rate; the lab also reads the leader's DB size
itself (maintenance status) at each collection. Ground truth (``ground_truth.jsonl``): each bundle with
its collection time, whether the throttle was on, the DB size the lab read and the bytes written so far.
No Prometheus runs (collect.sh then scrapes each member's /metrics): bundles stay small and quick.

    series.py OUT_DIR [--count 20] [--step-at 14] [--interval 6] [--etcd etcd] [--etcdctl etcdctl]
        -> OUT_DIR/bundles/NN-etcd-bundle-*.tar.gz
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import threading
import time
from pathlib import Path

import etcdlab
from scenario import SLOW_IOPS, Disks, Truth, b64, call, collect, leader

QUOTA = 2 * 1024 * 1024 * 1024
VALUE_BYTES = 4096
PUTS_PER_S = 20


class SteadyWriter:
    """New keys at a fixed rate into the leader; counts the payload bytes it had acknowledged."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.written = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            key = f"/kubernetes.io/configmaps/series/cm-{i:08d}"
            r = call(self.port, "/v3/kv/put", {"key": b64(key), "value": b64(os.urandom(VALUE_BYTES // 2).hex())})
            if r is not None and "header" in r:
                self.written += len(key) + VALUE_BYTES
            i += 1
            next_at += 1.0 / PUTS_PER_S
            time.sleep(max(next_at - time.monotonic(), 0))

    def __enter__(self) -> SteadyWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


def db_size(port: int) -> int | None:
    st = call(port, "/v3/maintenance/status", {})
    return int(st["dbSize"]) if st and "dbSize" in st else None


def run(out: Path, etcd: str, etcdctl: str, count: int, step_at: int, interval: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    lab = out / "lab"
    truth = Truth(out / "ground_truth.jsonl")
    truth.path.write_text("")
    names = [f"master-{i}" for i in range(3)]
    disks = Disks(lab, names)
    archives: list[Path] = []
    try:
        data_dirs = disks.prepare()
        truth.event("disk_mechanism", mechanism=disks.mechanism, reason=disks.reason or None)
        if disks.mechanism == "none":
            raise SystemExit(f"series.py: no way to slow one member's disk here ({disks.reason})")
        state = etcdlab.start_cluster(lab, etcd, etcdctl, 3, QUOTA, data_dirs, relays=False)
        lead = leader(state)
        assert lead is not None, "no leader"
        victim = next(m for m in state["members"] if m is not lead)
        truth.event("cluster_started", members=names, leader=lead["name"], rate_bytes_per_s=PUTS_PER_S * VALUE_BYTES)
        with SteadyWriter(lead["client_port"]) as writer:
            time.sleep(interval)
            for n in range(count):
                if n == step_at:
                    how = disks.slow(victim, SLOW_IOPS)
                    truth.event("slow_disk_start", member=victim["name"], mechanism=how, before_bundle=n)
                bundle_dir = out / "bundles" / f"{n:02d}"
                archive = collect(lab, bundle_dir)
                target = out / "bundles" / f"{n:02d}-{archive.name}"
                archive.rename(target)
                shutil.rmtree(bundle_dir, ignore_errors=True)
                archives.append(target)
                truth.event(
                    "bundle_collected",
                    n=n,
                    archive=target.name,
                    throttled=n >= step_at,
                    leader_db_size=db_size(lead["client_port"]),
                    written_bytes=writer.written,
                )
                time.sleep(interval)
        disks.fast(victim)
        truth.event("slow_disk_end", member=victim["name"])
        return archives
    finally:
        etcdlab.stop_cluster(lab)
        disks.cleanup()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--step-at", type=int, default=14)
    p.add_argument("--interval", type=float, default=6.0, help="seconds between collections")
    p.add_argument("--etcd", default=os.environ.get("LAB_ETCD", "etcd"))
    p.add_argument("--etcdctl", default=os.environ.get("LAB_ETCDCTL", "etcdctl"))
    args = p.parse_args(argv)
    with contextlib.suppress(BrokenPipeError):
        for a in run(Path(args.out).resolve(), args.etcd, args.etcdctl, args.count, args.step_at, args.interval):
            print(a)


if __name__ == "__main__":
    main()
