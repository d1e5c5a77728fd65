#!/usr/bin/env python3
"""Real faults on a real etcd cluster, recorded as ground truth, harvested by scripts/collect.sh.

Runs a 3-member cluster (etcdlab.py) under a kube-apiserver-like load, then: a static-pod rollout of
revision 2 on the leader's node (installer pod and operator events recorded, the old pod stopped with
SIGTERM, a new pod whose log begins with the container's preamble: an election follows), a follower's disk
throttled, the leader's disk throttled (an election follows), the leader stopped with SIGSTOP for
3 s (another election), a follower killed, stopped on a fatal error as it starts again (its client
port taken), then restarted, a slow network link into one member (0.3 s more latency for 40 s, through
a relay in front of its peer port: netdelay.py), compaction and defrag, and the DB filled to NOSPACE. Every injection is
a line in ground_truth.jsonl (what, when, which member). A real Prometheus scrapes the members every
second; the bundle is taken with the real collect.sh through the `oc` shim (so it carries
Prometheus's dump), while the alarm is still active.

Slow disks need root: each member's data dir sits on its own loop-mounted ext4 and its write IOPS
are capped with the cgroup-v1 blkio throttle, or, where that is missing, each fdatasync is delayed
with strace. Where neither is possible the disk steps are skipped with the reason printed.

    scenario.py OUT_DIR [--etcd etcd] [--etcdctl etcdctl]     # -> OUT_DIR/etcd-bundle-*.tar.gz
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import etcdlab
import netdelay
import prom

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BLKIO = Path("/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device")
QUOTA = 64 * 1024 * 1024
SLOW_IOPS = 2  # at 2 write IOPS every fdatasync takes over 1 s, the threshold etcd logs at
LINK_DELAY_S = 0.3  # added to what peers send one member: over OpenShift's 50 ms, under the 1 s election timeout
LINK_DELAY_FOR_S = 40


class Truth:
    def __init__(self, path: Path) -> None:
        self.path = path

    def event(self, event: str, **fields: object) -> None:
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with open(self.path, "a") as f:
            f.write(json.dumps({"ts": ts, "event": event, **fields}, sort_keys=True) + "\n")
        print(f"[{ts}] {event} {fields}", flush=True)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def call(port: int, path: str, body: dict, timeout: float = 5.0) -> dict | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        data = conn.getresponse().read()
        return json.loads(data) if data else {}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def leader(state: dict) -> dict | None:
    for m in state["members"]:
        st = call(m["client_port"], "/v3/maintenance/status", {}, timeout=2.0)
        if st and st.get("leader") and st.get("header", {}).get("member_id") == st["leader"]:
            return m
    return None


class Load:
    """Writers (events, leases, configmaps) and a reader doing unpaginated LISTs, until stopped."""

    def __init__(self, state: dict) -> None:
        self.ports = [m["client_port"] for m in state["members"]]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.writer, daemon=True) for _ in range(4)]
        self.threads.append(threading.Thread(target=self.reader, daemon=True))

    def writer(self) -> None:
        rnd = random.Random()
        while not self.stop.is_set():
            kind = rnd.choice(["events", "events", "leases", "configmaps"])
            key = f"/kubernetes.io/{kind}/ns-{rnd.randrange(8)}/obj-{rnd.randrange(300)}"
            call(rnd.choice(self.ports), "/v3/kv/put", {"key": b64(key), "value": b64(os.urandom(800))})
            time.sleep(0.025)

    def reader(self) -> None:
        rnd = random.Random()
        while not self.stop.is_set():
            call(
                rnd.choice(self.ports),
                "/v3/kv/range",
                {"key": b64("/kubernetes.io/secrets/"), "range_end": b64("/kubernetes.io/secrets0")},
                timeout=10,
            )
            time.sleep(0.5)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


class Disks:
    """One loop-mounted ext4 per member, so one member's disk can be slowed alone."""

    def __init__(self, lab: Path, names: list[str]) -> None:
        self.lab, self.names = lab, names
        self.loops: dict[str, str] = {}
        self.mechanism = "none"
        self.reason = ""
        self.strace: subprocess.Popen | None = None

    def prepare(self) -> list[str] | None:
        if os.geteuid() != 0:
            self.reason = "not root: no loop devices or throttles"
            return None
        dirs = []
        try:
            for n in self.names:
                img, mnt = self.lab / "disks" / f"{n}.img", self.lab / "mnt" / n
                img.parent.mkdir(parents=True, exist_ok=True)
                mnt.mkdir(parents=True, exist_ok=True)
                with open(img, "wb") as f:
                    f.truncate(512 * 1024 * 1024)
                dev = subprocess.run(
                    ["losetup", "-f", "--show", str(img)], check=True, capture_output=True, text=True
                ).stdout.strip()
                self.loops[n] = dev
                subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True, capture_output=True)
                subprocess.run(["mount", dev, str(mnt)], check=True, capture_output=True)
                dirs.append(str(mnt / "etcd"))
        except (OSError, subprocess.CalledProcessError) as exc:
            self.cleanup()
            self.reason = f"loop devices unavailable ({exc})"
            return self._strace_or_none()
        if os.access(BLKIO, os.W_OK):
            self.mechanism = "blkio"
        else:
            self._strace_or_none()
        return dirs

    def _strace_or_none(self) -> None:
        if shutil.which("strace"):
            self.mechanism = "strace"
        else:
            self.reason += "; no blkio throttle and no strace: disk faults skipped"
        return None

    def slow(self, member: dict, iops: int) -> str | None:
        if self.mechanism == "blkio" and member["name"] in self.loops:
            dev = Path("/sys/block") / Path(self.loops[member["name"]]).name / "dev"
            BLKIO.write_text(f"{dev.read_text().strip()} {iops}\n")
            return f"blkio write_iops={iops} on {self.loops[member['name']]}"
        if self.mechanism == "strace":
            self.strace = subprocess.Popen(
                [
                    "strace",
                    "-f",
                    "-qq",
                    "-p",
                    str(member["pid"]),
                    "-e",
                    "trace=fdatasync",
                    "-e",
                    "inject=fdatasync:delay_enter=1300000",
                    "-o",
                    "/dev/null",
                ]
            )
            return "strace fdatasync delay 1.3 s"
        return None

    def fast(self, member: dict) -> None:
        if self.mechanism == "blkio" and member["name"] in self.loops:
            dev = Path("/sys/block") / Path(self.loops[member["name"]]).name / "dev"
            BLKIO.write_text(f"{dev.read_text().strip()} 0\n")
        if self.strace is not None:
            self.strace.terminate()
            self.strace.wait(timeout=10)
            self.strace = None

    def cleanup(self) -> None:
        for n, dev in list(self.loops.items()):
            with contextlib.suppress(OSError):
                if self.mechanism == "blkio":
                    devno = (Path("/sys/block") / Path(dev).name / "dev").read_text().strip()
                    BLKIO.write_text(f"{devno} 0\n")
            mnt = str(self.lab / "mnt" / n)
            # a just-killed etcd may still hold the mount for a moment: retry, then detach lazily
            for _ in range(50):
                if subprocess.run(["umount", mnt], capture_output=True).returncode == 0:
                    break
                if subprocess.run(["mountpoint", "-q", mnt]).returncode != 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.run(["umount", "-l", mnt], capture_output=True)
            subprocess.run(["losetup", "-d", dev], capture_output=True)
            del self.loops[n]


def slow_period(disks: Disks, truth: Truth, member: dict, seconds: float = 15) -> None:
    """One member's disk slowed for a while, then restored, with both moments in the ground truth."""
    how = disks.slow(member, SLOW_IOPS)
    truth.event("slow_disk_start", member=member["name"], mechanism=how)
    time.sleep(seconds)
    disks.fast(member)
    truth.event("slow_disk_end", member=member["name"])
    time.sleep(5)


def k8s_time(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(lab: Path, namespace: str, reason: str, message: str, kind: str, name: str, component: str, **extra) -> None:
    etcdlab.record(
        lab,
        "events",
        {
            "ts": k8s_time(),
            "namespace": namespace,
            "reason": reason,
            "message": message,
            "object_kind": kind,
            "object_name": name,
            "component": component,
            **extra,
        },
    )


OPERATOR_NS = "openshift-etcd-operator"


def rollout(lab: Path, truth: Truth, member: str, revision: int) -> None:
    """What cluster-etcd-operator does to roll out a new static-pod revision on one node (see
    ../shared/reference/openshift-operations.md): the revision is triggered, the node's target set, an
    installer pod writes the manifest, the kubelet stops the old etcd pod (SIGTERM: if it leads, an
    election follows) and starts a new one, whose log begins with the container's preamble; then the
    node's current revision is updated. Each step is recorded as the operator and the kubelet would."""
    ns = "openshift-etcd"
    why = "configmap/etcd-pod has changed"
    event(
        lab,
        OPERATOR_NS,
        "RevisionTriggered",
        f'new revision {revision} triggered by "{why}"',
        "Deployment",
        "etcd-operator",
        "openshift-cluster-etcd-operator-revisioncontroller",
    )
    event(
        lab,
        OPERATOR_NS,
        "NodeTargetRevisionChanged",
        f'Updating node "{member}" from revision {revision - 1} to {revision} because node {member} with '
        f"revision {revision - 1} is the oldest",
        "Deployment",
        "etcd-operator",
        "openshift-cluster-etcd-operator-installer-controller",
    )
    installer = f"installer-{revision}-{member}"
    started = datetime.now(UTC)
    time.sleep(1.2)
    finished = datetime.now(UTC)
    etcdlab.record(
        lab,
        "pods",
        {
            "name": installer,
            "node": member,
            "exit_code": 0,
            "started": k8s_time(started),
            "finished": k8s_time(finished),
        },
    )
    event(
        lab,
        ns,
        "StaticPodInstallerCompleted",
        f"Successfully installed revision {revision}",
        "Pod",
        installer,
        "static-pod-installer",
    )
    event(
        lab,
        ns,
        "Killing",
        "Stopping container etcd",
        "Pod",
        f"etcd-{member}",
        "kubelet",
        host=member,
        field_path="spec.containers{etcd}",
    )
    truth.event("rollout_stop", member=member, revision=revision, installer=installer)
    etcdlab.rollout_member(lab, member, revision)
    truth.event("rollout_started", member=member, revision=revision)
    event(
        lab,
        OPERATOR_NS,
        "NodeCurrentRevisionChanged",
        f'Updated node "{member}" from revision {revision - 1} to {revision} because static pod is ready',
        "Deployment",
        "etcd-operator",
        "openshift-cluster-etcd-operator-installer-controller",
    )


def collect(lab: Path, out: Path, **env_extra: str) -> Path:
    """Run the real collect.sh against the lab through the `oc` shim; the archive it wrote."""
    env = {**os.environ, "PATH": f"{HERE}{os.pathsep}{os.environ['PATH']}", "ETCD_LAB_DIR": str(lab), **env_extra}
    r = subprocess.run(
        ["bash", str(REPO / "scripts" / "collect.sh"), "--output", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return Path(r.stdout.strip().splitlines()[-1])


def run(out: Path, etcd: str, etcdctl: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lab = out / "lab"
    truth = Truth(out / "ground_truth.jsonl")
    truth.path.write_text("")
    names = [f"master-{i}" for i in range(3)]
    disks = Disks(lab, names)
    try:
        data_dirs = disks.prepare()
        truth.event("disk_mechanism", mechanism=disks.mechanism, reason=disks.reason or None)
        state = etcdlab.start_cluster(lab, etcd, etcdctl, 3, QUOTA, data_dirs, relays=True)
        truth.event("cluster_started", members=names)
        if shutil.which("prometheus"):
            prom.start(lab, "1s")
            truth.event("prometheus_started", scrape_interval="1s")
        else:
            truth.event("prometheus_skipped", reason="prometheus not installed: the bundle gets /metrics scrapes")
        for i in range(400):
            call(
                state["members"][i % 3]["client_port"],
                "/v3/kv/put",
                {"key": b64(f"/kubernetes.io/secrets/ns-{i % 8}/s-{i}"), "value": b64(os.urandom(2000))},
            )
        with Load(state):
            time.sleep(8)
            # the etcd operator rolls a new revision out to the leader's node first: an election follows
            rolled = leader(state)
            truth.event("leader_observed", member=rolled["name"] if rolled else None)
            if rolled:
                rollout(lab, truth, rolled["name"], revision=2)
                time.sleep(4)
            state = etcdlab.load(lab)
            first = leader(state)
            truth.event("leader_observed", member=first["name"] if first else None)
            if disks.mechanism != "none" and first:
                slow_period(disks, truth, next(m for m in state["members"] if m is not first))
                lead = leader(state) or first
                truth.event("leader_observed", member=lead["name"])
                slow_period(disks, truth, lead)
            else:
                truth.event("slow_disk_skipped", reason=disks.reason)
            state = etcdlab.load(lab)
            lead = leader(state)
            truth.event("leader_observed", member=lead["name"] if lead else None)
            stopped = lead["name"] if lead else None
            if lead:
                os.kill(lead["pid"], signal.SIGSTOP)
                truth.event("leader_sigstop", member=lead["name"], seconds=3)
                time.sleep(3)
                os.kill(lead["pid"], signal.SIGCONT)
                truth.event("leader_sigcont", member=lead["name"])
            time.sleep(6)
            lead = leader(state)
            truth.event("leader_observed", member=lead["name"] if lead else None)
            victim = next(m for m in state["members"] if m is not lead)
            etcdlab.kill_member(lab, victim["name"])
            truth.event("member_sigkill", member=victim["name"])
            time.sleep(5)
            outcome = etcdlab.fail_start_member(lab, victim["name"])
            if outcome["fatal_logged"]:
                truth.event("member_fatal", member=victim["name"], error="bind: address already in use")
            else:  # the truth states what the member's log holds, not what the lab meant to happen
                truth.event("member_fatal_missed", member=victim["name"], **outcome)
            etcdlab.restart_member(lab, victim["name"])
            truth.event("member_restarted", member=victim["name"])
            time.sleep(4)
            # a slow link into a member the lab did nothing else to, where it can: only its peers' round
            # trips to it show it (etcd logs nothing at this delay), and each peer records its smoothed
            # round trip every 30 s, so the delay lasts long enough for both to record one
            spared = [m["name"] for m in state["members"] if m["name"] not in (victim["name"], stopped)]
            slowed = (spared or [m["name"] for m in state["members"] if m["name"] != victim["name"]])[0]
            netdelay.PROXIES[slowed].delay = LINK_DELAY_S
            truth.event("link_delay_start", member=slowed, delay_ms=int(LINK_DELAY_S * 1000))
            time.sleep(LINK_DELAY_FOR_S)
            netdelay.PROXIES[slowed].delay = 0.0
            truth.event("link_delay_end", member=slowed)
            time.sleep(3)
        state = etcdlab.load(lab)
        st = call(state["members"][0]["client_port"], "/v3/kv/range", {"key": b64("x")})
        rev = int(st["header"]["revision"]) if st else 0
        call(state["members"][0]["client_port"], "/v3/kv/compaction", {"revision": rev}, timeout=30)
        truth.event("compacted", revision=rev)
        for m in state["members"]:
            call(m["client_port"], "/v3/maintenance/defragment", {}, timeout=60)
            truth.event("defragmented", member=m["name"])
        for i in range(200):
            r = call(
                state["members"][0]["client_port"],
                "/v3/kv/put",
                {"key": b64(f"/kubernetes.io/configmaps/bloat/huge-{i}"), "value": b64(os.urandom(1024 * 1024))},
                timeout=15,
            )
            if r is None or "error" in r or "message" in r:
                truth.event("nospace", puts=i, quota_bytes=QUOTA, error=(r or {}).get("message"))
                break
        time.sleep(2)
        archive = collect(lab, out)
        truth.event("bundle_collected", archive=archive.name)
        return archive
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
    args = p.parse_args(argv)
    print(run(Path(args.out).resolve(), args.etcd, args.etcdctl))


if __name__ == "__main__":
    main()
