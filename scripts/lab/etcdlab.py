#!/usr/bin/env python3
"""A real etcd cluster on loopback for tests: start, kill, restart, stop — standard library only.

The state lives in ``<lab dir>/lab.json`` (members, ports, PIDs, binaries, tuning) so that the
``oc`` shim beside this file can answer ``oc get pods``, ``oc exec ... etcdctl`` and ``oc logs``
from it. Each member's stderr goes to ``logs/<name>.log``; a restart moves it to
``logs/<name>.previous.log``, as a container restart does; a static-pod rollout (``rollout_member``)
makes a new pod instead: a new log that begins with the container's shell preamble, no previous log.
Installer pods and Kubernetes events the lab records go to ``<lab dir>/platform.json``. Only PIDs this
lab started are signalled.

    etcdlab.py start DIR [--members 3] [--etcd etcd] [--etcdctl etcdctl] [--quota BYTES]
    etcdlab.py kill DIR MEMBER          # SIGKILL, the member stays down
    etcdlab.py restart DIR MEMBER       # start it again on the same data dir
    etcdlab.py stop DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netdelay


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def load(lab: Path) -> dict:
    return json.loads((lab / "lab.json").read_text())


def save(lab: Path, state: dict) -> None:
    tmp = lab / "lab.json.tmp"
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(lab / "lab.json")


def alive(pid: int | None, name: str) -> bool:
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return f"--name {name} " in cmdline


def advertised_peer_port(member: dict) -> int:
    """Where peers reach the member: its relay (netdelay) when the lab runs one, else its own port."""
    return member.get("relay_port") or member["peer_port"]


def spawn(lab: Path, state: dict, member: dict) -> None:
    cluster = ",".join(f"{m['name']}=http://127.0.0.1:{advertised_peer_port(m)}" for m in state["members"])
    log = open(lab / "logs" / f"{member['name']}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            state["etcd"],
            "--name",
            member["name"],
            "--data-dir",
            member.get("data_dir") or str(lab / "data" / member["name"]),
            "--listen-client-urls",
            f"http://127.0.0.1:{member['client_port']}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{member['client_port']}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{member['peer_port']}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{advertised_peer_port(member)}",
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            "etcd-perf-lab",
            "--heartbeat-interval",
            str(state["heartbeat_ms"]),
            "--election-timeout",
            str(state["election_ms"]),
            "--quota-backend-bytes",
            str(state["quota"]),
            "--metrics",
            "extensive",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ETCD")},
    )
    log.close()
    member["pid"] = proc.pid
    member["starts"] = member.get("starts", 0) + 1


def healthy(member: dict) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{member['client_port']}/health", timeout=2) as r:
            return b'"health":"true"' in r.read()
    except OSError:
        return False


def wait_healthy(members: list[dict], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(healthy(m) for m in members):
            return
        time.sleep(0.2)
    raise SystemExit("etcdlab: cluster did not become healthy in time")


def start_cluster(
    lab: Path,
    etcd: str,
    etcdctl: str,
    members: int = 3,
    quota: int = 100 * 1024 * 1024,
    data_dirs: list[str] | None = None,
    relays: bool = False,
) -> dict:
    """With ``relays``, each member's peers reach it through a netdelay relay run by this process (so
    only a caller that stays up, like scenario.py, may ask for them): its link can then be slowed."""
    etcd = shutil.which(etcd) or etcd
    etcdctl = shutil.which(etcdctl) or etcdctl
    if not Path(etcd).is_file():
        raise SystemExit(f"etcdlab: etcd binary not found: {etcd}")
    (lab / "logs").mkdir(parents=True, exist_ok=True)
    (lab / "data").mkdir(exist_ok=True)
    ports = free_ports(3 * members)
    state = {
        "cluster_uuid": str(uuid.uuid4()),  # what OpenShift's ClusterVersion calls spec.clusterID
        "etcd": etcd,
        "etcdctl": etcdctl,
        "quota": quota,
        "heartbeat_ms": 100,
        "election_ms": 1000,
        "namespace": "openshift-etcd",
        "members": [
            {
                "name": f"master-{i}",
                "client_port": ports[2 * i],
                "peer_port": ports[2 * i + 1],
                "data_dir": data_dirs[i] if data_dirs else None,
                "relay_port": ports[2 * members + i] if relays else None,
            }
            for i in range(members)
        ],
    }
    for m in state["members"] if relays else []:
        netdelay.start(m["name"], m["relay_port"], m["peer_port"])
    for m in state["members"]:
        spawn(lab, state, m)
    save(lab, state)
    wait_healthy(state["members"])
    return state


def start(args: argparse.Namespace) -> None:
    lab = Path(args.dir).resolve()
    start_cluster(lab, args.etcd, args.etcdctl, args.members, args.quota)
    print(lab / "lab.json")


def member_of(state: dict, name: str) -> dict:
    for m in state["members"]:
        if m["name"] == name:
            return m
    raise SystemExit(f"etcdlab: no member {name}")


def kill(args: argparse.Namespace) -> None:
    kill_member(Path(args.dir).resolve(), args.member)


def kill_member(lab: Path, name: str) -> None:
    state = load(lab)
    m = member_of(state, name)
    if alive(m.get("pid"), m["name"]):
        os.kill(m["pid"], signal.SIGKILL)
        _reap(m["pid"], m["name"])
    m["pid"] = None
    save(lab, state)


def fail_start_member(lab: Path, name: str, timeout: float = 20.0) -> dict:
    """Start a stopped member while something else holds its client port: etcd cannot listen and stops
    on a fatal error ("discovery failed ... address already in use") before it opens its data dir, as
    a member does that a stray process or a port clash keeps from starting. Its log keeps the line.

    Returns what happened, for the ground truth to state only that: the exit status (None: still running
    at the timeout, then killed) and whether this start's log holds a fatal line (CI once saw a start
    leave none, so the lab checks rather than assumes)."""
    state = load(lab)
    m = member_of(state, name)
    log = lab / "logs" / f"{m['name']}.log"
    offset = log.stat().st_size if log.exists() else 0
    status = None
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the killed member's TIME_WAITs
        blocker.bind(("127.0.0.1", m["client_port"]))
        blocker.listen()
        spawn(lab, state, m)
        save(lab, state)
        deadline = time.monotonic() + timeout
        # until the child is reaped: its exit, not its command line (a zombie's is empty), says it stopped
        while time.monotonic() < deadline:
            try:
                done, code = os.waitpid(m["pid"], os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                status = os.waitstatus_to_exitcode(code)
                break
            time.sleep(0.05)
    kill_member(lab, name)
    with open(log, "rb") as fh:
        fh.seek(offset)
        logged = b'"level":"fatal"' in fh.read()
    return {"exit_status": status, "fatal_logged": logged}


def restart(args: argparse.Namespace) -> None:
    restart_member(Path(args.dir).resolve(), args.member)


def restart_member(lab: Path, name: str) -> None:
    kill_member(lab, name)
    state = load(lab)
    m = member_of(state, name)
    log = lab / "logs" / f"{m['name']}.log"
    if log.exists():
        log.replace(lab / "logs" / f"{m['name']}.previous.log")
    spawn(lab, state, m)
    save(lab, state)
    wait_healthy([m])


STAMP = "%Y-%m-%dT%H:%M:%S.%f000Z"  # the container runtime's time of a line, as `oc logs --timestamps` prints it


def stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime(STAMP)


def member_ids(state: dict) -> dict[str, str]:
    """name -> hex member ID, from a member's /v3 gateway (what `etcdctl member list` prints)."""
    for m in state["members"]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{m['client_port']}/v3/cluster/member/list", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                listed = json.loads(r.read())["members"]
        except (OSError, ValueError, KeyError):
            continue
        return {x.get("name", ""): format(int(x["ID"]), "x") for x in listed}
    return {}


def _preamble(state: dict, member: dict, revision: int, ids: dict[str, str], wait_s: float) -> list[str]:
    """The OpenShift etcd container's shell output before etcd's first line (copied from real
    must-gathers: ../shared/reference/openshift-operations.md), each line stamped as the runtime would.
    The wait for the old pod's ports prints dots with ``echo -n``: several stamps on one line."""
    now = datetime.now(UTC)
    lines = []
    for m in state["members"]:
        url_p, url_c = f"http://127.0.0.1:{advertised_peer_port(m)}", f"http://127.0.0.1:{m['client_port']}"
        lines.append(f"{stamp(now)} {ids.get(m['name'], '0')}, started, {m['name']}, {url_p}, {url_c}, false")
    lines += [f"{stamp(now)} dataDir is present on {member['name']}", f"{stamp(now)} #### attempt 0"]
    for m in state["members"]:
        lines.append(f'{stamp(now)}       member={{name="{m["name"]}", peerURLs=[http://127.0.0.1:{m["peer_port"]}}}')
    lines.append(
        f'{stamp(now)}       target={{name="{member["name"]}", peerURLs=[http://127.0.0.1:{member["peer_port"]}}}'
    )
    dots = "".join(f"{stamp(now + timedelta(seconds=i))} ." for i in range(int(wait_s) + 1))
    ports = f"{member['client_port']}, {member['peer_port']} and 9978"
    lines.append(f"{stamp(now)} Waiting for ports {ports} to be released.{dots}")
    after = now + timedelta(seconds=wait_s)
    lines += [
        f"{stamp(after)} real\t0m{wait_s:.3f}s",
        f"{stamp(after)} user\t0m0.003s",
        f"{stamp(after)} sys\t0m0.004s",
    ]
    env = {
        "ETCD_STATIC_POD_VERSION": revision,
        "ETCD_HEARTBEAT_INTERVAL": state["heartbeat_ms"],
        "ETCD_ELECTION_TIMEOUT": state["election_ms"],
        "ETCD_QUOTA_BACKEND_BYTES": state["quota"],
        "ETCD_INITIAL_CLUSTER_STATE": "existing",
        "ETCD_NAME": member["name"],
        "ALL_ETCD_ENDPOINTS": ",".join(f"http://127.0.0.1:{m['client_port']}" for m in state["members"]),
    }
    lines += [f"{stamp(after)} {k}={v}" for k, v in env.items()]
    lines.append(f"{stamp(after)} + exec etcd --logger=zap --log-level=info --name={member['name']}")
    return lines


def rollout_member(lab: Path, name: str, revision: int, wait_s: float = 3.0) -> None:
    """What a static-pod rollout does to a member once its installer has written the new manifest: the
    kubelet stops the old pod gracefully (SIGTERM; a leader hands over, or its peers elect another) and
    starts a new pod. The new pod's log is a new file: the old pod's log and its previous log are gone
    from what `oc logs` can fetch, and the new one begins with the container's shell preamble."""
    state = load(lab)
    m = member_of(state, name)
    ids = member_ids(state)
    if alive(m.get("pid"), m["name"]):
        os.kill(m["pid"], signal.SIGTERM)
        _reap(m["pid"], m["name"], kill_after=15.0)
    m["pid"] = None
    for log in (lab / "logs" / f"{name}.log", lab / "logs" / f"{name}.previous.log"):
        log.unlink(missing_ok=True)
    preamble = _preamble(state, m, revision, ids, wait_s)
    time.sleep(wait_s)  # the new pod waits for the old one's ports
    (lab / "logs" / f"{name}.log").write_text("\n".join(preamble) + "\n")
    m["starts"] = 0  # a new pod: its restart count starts again
    m["revision"] = revision
    m["pod_started"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    spawn(lab, state, m)
    save(lab, state)
    wait_healthy([m])


def record(lab: Path, kind: str, obj: dict) -> None:
    """Add an installer pod or a Kubernetes event to what the `oc` shim shows (lab/platform.json)."""
    path = lab / "platform.json"
    data = json.loads(path.read_text()) if path.exists() else {"pods": [], "events": []}
    data[kind].append({**obj, "seq": len(data[kind]) + 1})
    tmp = lab / "platform.json.tmp"
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def stop(args: argparse.Namespace) -> None:
    stop_cluster(Path(args.dir).resolve())


def stop_cluster(lab: Path) -> None:
    netdelay.stop()
    if not (lab / "lab.json").exists():
        return
    state = load(lab)
    for m in state["members"]:
        if alive(m.get("pid"), m["name"]):
            os.kill(m["pid"], signal.SIGTERM)
    for m in state["members"]:
        if m.get("pid"):
            _reap(m["pid"], m["name"], kill_after=1.0)  # a test lab need not wait for leadership transfer
            m["pid"] = None
    save(lab, state)


def _reap(pid: int, name: str, kill_after: float = 5.0) -> None:
    """Wait for our member to exit (a zombie counts as gone: its cmdline is empty), then SIGKILL."""
    deadline = time.monotonic() + kill_after
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid, name):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("dir")
    s.add_argument("--members", type=int, default=3)
    s.add_argument("--etcd", default=os.environ.get("LAB_ETCD", "etcd"))
    s.add_argument("--etcdctl", default=os.environ.get("LAB_ETCDCTL", "etcdctl"))
    s.add_argument("--quota", type=int, default=100 * 1024 * 1024)
    for name in ("kill", "restart"):
        k = sub.add_parser(name)
        k.add_argument("dir")
        k.add_argument("member")
    st = sub.add_parser("stop")
    st.add_argument("dir")
    args = p.parse_args(argv)
    {"start": start, "kill": kill, "restart": restart, "stop": stop}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
