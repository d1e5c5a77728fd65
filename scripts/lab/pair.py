#!/usr/bin/env python3
"""A before/after pair of one real cluster, for ``etcd-perf compare``: the same 3-member etcd cluster under
the same load, collected twice with the real collect.sh, first healthy, then with one follower's disk
throttled (its write IOPS capped by the cgroup-v1 blkio throttle, or each fdatasync delayed by strace).

Ground truth (``ground_truth.jsonl``): which member was throttled, when each phase began and when each
bundle was collected. The throttle stays on through the second collection, so the last ``--phase``
seconds before it are all throttled: compare the pair with ``--duration`` up to ``(phase - 20) / 60``.

    pair.py OUT_DIR [--etcd etcd] [--etcdctl etcdctl] [--phase 90]
        -> OUT_DIR/before/etcd-bundle-*.tar.gz, OUT_DIR/after/etcd-bundle-*.tar.gz
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import etcdlab
import prom
from scenario import QUOTA, SLOW_IOPS, Disks, Load, Truth, b64, call, collect, leader


def run(out: Path, etcd: str, etcdctl: str, phase: float) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    lab = out / "lab"
    truth = Truth(out / "ground_truth.jsonl")
    truth.path.write_text("")
    names = [f"master-{i}" for i in range(3)]
    disks = Disks(lab, names)
    try:
        data_dirs = disks.prepare()
        truth.event("disk_mechanism", mechanism=disks.mechanism, reason=disks.reason or None)
        if disks.mechanism == "none":
            raise SystemExit(f"pair.py: no way to slow one member's disk here ({disks.reason})")
        state = etcdlab.start_cluster(lab, etcd, etcdctl, 3, QUOTA, data_dirs, relays=False)
        truth.event("cluster_started", members=names)
        if shutil.which("prometheus"):
            prom.start(lab, "1s")
            truth.event("prometheus_started", scrape_interval="1s")
        for i in range(200):
            call(
                state["members"][i % 3]["client_port"],
                "/v3/kv/put",
                {"key": b64(f"/kubernetes.io/secrets/ns-{i % 8}/s-{i}"), "value": b64(os.urandom(2000))},
            )
        with Load(state):
            truth.event("phase_start", phase="before")
            time.sleep(phase)
            before = collect(lab, out / "before")
            truth.event("bundle_collected", phase="before", archive=before.name)
            lead = leader(state)
            victim = next(m for m in state["members"] if m is not lead)
            how = disks.slow(victim, SLOW_IOPS)
            truth.event("slow_disk_start", member=victim["name"], mechanism=how)
            truth.event("phase_start", phase="after")
            time.sleep(phase)
            after = collect(lab, out / "after")
            truth.event("bundle_collected", phase="after", archive=after.name)
            disks.fast(victim)
            truth.event("slow_disk_end", member=victim["name"])
        return before, after
    finally:
        with contextlib.suppress(Exception):
            prom.stop(lab)
        etcdlab.stop_cluster(lab)
        disks.cleanup()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--etcd", default=os.environ.get("LAB_ETCD", "etcd"))
    p.add_argument("--etcdctl", default=os.environ.get("LAB_ETCDCTL", "etcdctl"))
    p.add_argument("--phase", type=float, default=90.0, help="seconds of load in each phase")
    args = p.parse_args(argv)
    before, after = run(Path(args.out).resolve(), args.etcd, args.etcdctl, args.phase)
    print(before)
    print(after)


if __name__ == "__main__":
    main()
