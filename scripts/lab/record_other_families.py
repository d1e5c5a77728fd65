#!/usr/bin/env python3
"""Record, with the lab's real Prometheus, every metric family a real etcd exposes that etcd-perf does not
read, for the benchmark's whole-cluster-shaped dump (benchmarks/metrics_corpus.py).

A 3-member cluster under the lab's load, scraped every second for ``--seconds``; the dump holds every
series of every family except those the sample bundle's dump holds (the etcd part of the benchmark),
in the format of ``promtool tsdb dump-openmetrics``, gzipped.

    record_other_families.py OUT.openmetrics.gz [--etcd etcd] [--etcdctl etcdctl] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import etcdlab
import prom
from scenario import Load

SAMPLE_FAMILIES = [
    "etcd_disk_wal_fsync_duration_seconds_bucket",
    "etcd_disk_backend_commit_duration_seconds_bucket",
    "etcd_network_peer_round_trip_time_seconds_bucket",
    "etcd_network_peer_sent_failures_total",
    "etcd_server_proposals_failed_total",
    "etcd_server_proposals_pending",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_slow_apply_total",
    "etcd_server_heartbeat_send_failures_total",
    "etcd_server_has_leader",
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_server_quota_backend_bytes",
    "grpc_server_handled_total",
    "grpc_server_handling_seconds_bucket",
]


def record(out: Path, etcd: str, etcdctl: str, seconds: float) -> int:
    with tempfile.TemporaryDirectory(prefix="etcd-perf-families-") as tmp:
        lab = Path(tmp) / "lab"
        state = etcdlab.start_cluster(lab, etcd, etcdctl, 3)
        try:
            prom.start(lab, "1s")
            start_ms = int(time.time() * 1000)
            with Load(state):
                time.sleep(seconds)
            end_ms = int(time.time() * 1000)
            time.sleep(2)  # the last scrape is in
            others = "|".join(SAMPLE_FAMILIES)
            text = prom.dump(lab, [f'{{__name__=~".+",__name__!~"{others}"}}'], start_ms, end_ms)
        finally:
            with contextlib.suppress(Exception):
                prom.stop(lab)
            etcdlab.stop_cluster(lab)
    out.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    return text.count("\n") - 1


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--etcd", default=os.environ.get("LAB_ETCD", "etcd"))
    p.add_argument("--etcdctl", default=os.environ.get("LAB_ETCDCTL", "etcdctl"))
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args(argv)
    n = record(args.out, args.etcd, args.etcdctl, args.seconds)
    print(f"{n} samples -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
