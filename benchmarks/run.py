#!/usr/bin/env python3
"""Side-by-side benchmark: etcd-perf against grep, the naive reference analyzer and tar, in one run.

Builds (once) a must-gather-shaped corpus of real etcd lines (corpus.py), then times, best of
``--repeat`` runs each, as child processes so peak RSS is each one's own (wait4):

- ``grep -c 'took too long'`` over the log files: the floor a support engineer knows;
- the naive reference (naive.py): json-decode every line, same questions;
- ``etcd-perf analyze --duration all --format json``: the full analysis, all reports written;
- with ``--tar``: ``tar -xzf`` of the corpus packed as .tar.gz, and etcd-perf on that archive;
- with ``--growth``: etcd-perf on a corpus twice the size (linear growth: <= 2.2x the time);
- with ``--floor``: the least any polars analysis must do (floor.py), against the time the targets allow.

    python3 benchmarks/run.py --mb 1024 --tar --growth --floor   # the issue's targets (BENCHMARKS.md)
    python3 benchmarks/run.py --mb 50 --json               # what tests/test_benchmark.py runs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PHASES = re.compile(r"time: (.*)$", re.M)


@dataclass
class Timing:
    name: str
    seconds: float
    peak_rss_mb: float
    phases: str = ""


def run_once(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of that child alone, and its stderr."""
    # stdout goes to a real file: GNU grep stops at the first match when it sees /dev/null
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if proc.returncode not in (0, 1, 2):  # etcd-perf exits 1/2 on findings; grep 1 on no match
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {text[-500:]}")
    return elapsed, usage.ru_maxrss / 1024, text


def best_of(name: str, cmd: list[str], repeat: int, before=None) -> Timing:
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        runs.append(run_once(cmd))
    seconds, _, err = min(runs, key=lambda r: r[0])
    found = PHASES.search(err)
    return Timing(name, seconds, max(r[1] for r in runs), found.group(1) if found else "")


def corpus_dir(work: Path, mb: int) -> Path:
    out = work / f"corpus-{mb}mb"
    marker = out / ".built"
    if not marker.exists():
        # built in a child: this process stays small, so a child's peak RSS (wait4) is its own
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, str(HERE / "corpus.py"), str(out), "--mb", str(mb)], check=True)
    return out


def corpus_archive(work: Path, out: Path) -> Path:
    archive = work / f"{out.name}.tar.gz"
    if not archive.exists():
        subprocess.run([sys.executable, str(HERE / "corpus.py"), str(out), "--pack", str(archive)], check=True)
    return archive


def etcd_perf_cmd(bundle: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-c", "from etcd_perf.analyze.cli import main; main()", "analyze", str(bundle),
        "--duration", "all", "--format", "json", "--verbose", "--output", str(output),
    ]  # fmt: skip


def warm(paths: list[str]) -> None:
    """Read the corpus once before timing: every tool then meets a warm page cache, not just the later ones."""
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass


def floor(corpus: Path, repeat: int) -> dict[str, float]:
    """floor.py's stage times, from a child (its own process, like every tool measured here)."""
    done = subprocess.run(
        [sys.executable, str(HERE / "floor.py"), str(corpus), "--repeat", str(repeat)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def measure(
    mb: int, work: Path, repeat: int, tar: bool = False, growth: bool = False, with_floor: bool = False
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    out = corpus_dir(work, mb)
    info = json.loads((out / ".built").read_text())
    logs = sorted(str(p) for p in out.rglob("*.log"))
    report = work / "report"
    warm(logs)
    results = {
        # grep takes a fraction of a second: best of three at least, so noise does not decide the ratio
        "grep": best_of("grep -c", ["grep", "-c", "took too long", *logs], max(repeat, 3)),
        "naive": best_of("naive reference", [sys.executable, str(HERE / "naive.py"), str(out)], repeat),
        "etcd_perf": best_of("etcd-perf analyze", etcd_perf_cmd(out, report), repeat),
    }
    if tar:
        archive = corpus_archive(work, out)
        scratch = work / "untar"

        def fresh() -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()

        results["tar_x"] = best_of("tar -xzf", ["tar", "-xzf", str(archive), "-C", str(scratch)], repeat, fresh)
        shutil.rmtree(scratch, ignore_errors=True)
        results["etcd_perf_tgz"] = best_of("etcd-perf analyze .tar.gz", etcd_perf_cmd(archive, report), repeat)
    if growth:
        double = corpus_dir(work, 2 * mb)
        results["etcd_perf_2x"] = best_of("etcd-perf analyze (2x data)", etcd_perf_cmd(double, report), repeat)
    t = {k: v.seconds for k, v in results.items()}
    ratios = {
        "naive_over_etcd_perf": t["naive"] / t["etcd_perf"],
        "etcd_perf_over_grep": t["etcd_perf"] / t["grep"],
    }
    if tar:
        ratios["tgz_over_tar_x"] = t["etcd_perf_tgz"] / t["tar_x"]
    if growth:
        ratios["growth_2x"] = t["etcd_perf_2x"] / t["etcd_perf"]
    data = {
        "corpus": {"mb": info["bytes"] / 2**20, "lines": info["lines"], "files": info["files"]},
        "results": {k: asdict(v) for k, v in results.items()},
        "ratios": ratios,
        "targets": {
            "naive_over_etcd_perf": ">= 6",
            "etcd_perf_over_grep": "<= 8",
            "peak_rss_mb": "<= 600",
            "tgz_over_tar_x": "<= 1.5",
            "growth_2x": "<= 2.2",
        },
    }
    if with_floor:
        # the whole analysis may take this long and meet both speed targets
        budget = min(t["naive"] / 6, t["grep"] * 8)
        data["floor"] = {"budget_seconds": budget, "stages": floor(out, max(repeat, 2))}
    return data


def print_table(data: dict) -> None:
    mb, lines = data["corpus"]["mb"], data["corpus"]["lines"]
    print(f"corpus: {mb:.0f} MiB, {lines} lines, {data['corpus']['files']} files ({os.cpu_count()} cores)")
    print(f"{'tool':28} {'seconds':>8} {'MB/s':>8} {'lines/s':>11} {'peak RSS':>9}")
    for r in data["results"].values():
        size = mb * (2 if "2x" in r["name"] else 1)
        n = lines * (2 if "2x" in r["name"] else 1)
        print(
            f"{r['name']:28} {r['seconds']:8.3f} {size / r['seconds']:8.0f} {n / r['seconds']:11.0f} "
            f"{r['peak_rss_mb']:7.0f}MB"
        )
    for k, v in data["ratios"].items():
        print(f"{k:24} {v:6.2f}   (target {data['targets'][k]})")
    phases = data["results"]["etcd_perf"]["phases"]
    if phases:
        print(f"etcd-perf phases: {phases}")
    if "floor" in data:
        budget = data["floor"]["budget_seconds"]
        print(f"time the speed targets allow for the whole analysis: {budget:.2f} s")
        for name, seconds in data["floor"]["stages"].items():
            print(f"  polars floor, {name:13} {seconds:6.2f} s  ({100 * seconds / budget:.0f} % of it)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=1024, help="corpus size in MiB (three members)")
    p.add_argument("--work", type=Path, default=REPO / ".work" / "bench", help="where corpora are kept")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tar", action="store_true", help="also the .tar.gz corpus against tar -xzf")
    p.add_argument("--growth", action="store_true", help="also a corpus twice the size")
    p.add_argument("--floor", action="store_true", help="also the least any polars analysis must do")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    data = measure(args.mb, args.work, args.repeat, args.tar, args.growth, args.floor)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print_table(data)


if __name__ == "__main__":
    main()
