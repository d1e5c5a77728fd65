#!/usr/bin/env python3
"""A real Prometheus (Debian's `prometheus`) scraping the lab's etcd members, and dumps of its data.

`start` writes a scrape config with one target per member (labels job=etcd, pod=etcd-<name>, as
OpenShift's ServiceMonitor gives them) and runs Prometheus on a free loopback port. `dump` writes
the raw samples of the matching series in the format of `promtool tsdb dump-openmetrics` (one
sample per line, `name{sorted labels} value ts_seconds`, `# EOF`), read back through the HTTP API,
which is what the `oc` shim answers when collect.sh asks the cluster's Prometheus for a dump.

    prom.py start LAB_DIR [--interval 1s]
    prom.py dump LAB_DIR --min-time MS --max-time MS --match SELECTOR [--match ...]
    prom.py query LAB_DIR EXPR [--time SECONDS]
    prom.py stop LAB_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import etcdlab


def _api(port: int, path: str, params: dict[str, str]) -> dict:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as r:
        data = json.load(r)
    if data.get("status") != "success":
        raise SystemExit(f"prom: query failed: {data}")
    return data["data"]


def start(lab: Path, interval: str = "1s") -> int:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prom: prometheus not installed (Debian: prometheus)")
    state = etcdlab.load(lab)
    (port,) = etcdlab.free_ports(1)
    pdir = lab / "prometheus"
    (pdir / "data").mkdir(parents=True, exist_ok=True)
    jobs = "\n".join(
        f"""      - targets: ['127.0.0.1:{m["client_port"]}']
        labels: {{pod: 'etcd-{m["name"]}', namespace: 'openshift-etcd'}}"""
        for m in state["members"]
    )
    (pdir / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: etcd
    static_configs:
{jobs}
"""
    )
    log = open(pdir / "prometheus.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={pdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={pdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    state["prometheus"] = {"pid": proc.pid, "port": port}
    etcdlab.save(lab, state)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if _api(port, "/api/v1/targets", {})["activeTargets"]:
                return port
        except (OSError, SystemExit):
            pass
        time.sleep(0.3)
    raise SystemExit("prom: prometheus did not start")


def port_of(lab: Path) -> int:
    return int(etcdlab.load(lab)["prometheus"]["port"])


def _fmt_labels(metric: dict[str, str]) -> str:
    labels = sorted((k, v) for k, v in metric.items() if k != "__name__")
    esc = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n"}
    inner = ",".join(f'{k}="{v.translate(esc)}"' for k, v in labels)
    return "{" + inner + "}" if inner else ""


def dump(lab: Path, matches: list[str], min_ms: int, max_ms: int) -> str:
    """Raw samples of the matching series between two times, one per line, as promtool writes them."""
    port = port_of(lab)
    lines: list[str] = []
    seconds = max(1, (max_ms - min_ms + 999) // 1000)
    for match in matches:
        data = _api(port, "/api/v1/query", {"query": f"{match}[{seconds}s]", "time": f"{max_ms / 1000:.3f}"})
        for series in sorted(data["result"], key=lambda s: _fmt_labels(s["metric"]) + s["metric"].get("__name__", "")):
            name = series["metric"]["__name__"]
            labels = _fmt_labels(series["metric"])
            for ts, value in series["values"]:
                if min_ms <= round(float(ts) * 1000) <= max_ms:
                    lines.append(f"{name}{labels} {value} {float(ts):.3f}")
    return "\n".join(lines) + ("\n" if lines else "") + "# EOF\n"


def query(lab: Path, expr: str, at: float | None = None) -> list[dict]:
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    return _api(port_of(lab), "/api/v1/query", params)["result"]


def stop(lab: Path) -> None:
    state = etcdlab.load(lab)
    prom = state.get("prometheus") or {}
    pid = prom.get("pid")
    if pid and Path(f"/proc/{pid}/cmdline").exists() and b"prometheus" in Path(f"/proc/{pid}/cmdline").read_bytes():
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}/cmdline").read_bytes():
            time.sleep(0.1)
    state.pop("prometheus", None)
    etcdlab.save(lab, state)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("dir")
    s.add_argument("--interval", default="1s")
    d = sub.add_parser("dump")
    d.add_argument("dir")
    d.add_argument("--min-time", type=int, required=True)
    d.add_argument("--max-time", type=int, required=True)
    d.add_argument("--match", action="append", required=True)
    q = sub.add_parser("query")
    q.add_argument("dir")
    q.add_argument("expr")
    q.add_argument("--time", type=float)
    st = sub.add_parser("stop")
    st.add_argument("dir")
    args = p.parse_args(argv)
    lab = Path(args.dir).resolve()
    if args.cmd == "start":
        print(start(lab, args.interval))
    elif args.cmd == "dump":
        sys.stdout.write(dump(lab, args.match, args.min_time, args.max_time))
    elif args.cmd == "query":
        print(json.dumps(query(lab, args.expr, args.time)))
    else:
        stop(lab)


if __name__ == "__main__":
    main()
