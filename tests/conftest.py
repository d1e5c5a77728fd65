"""Shared fixtures: a fresh bundle from the project's own etcd lab, made once per test session."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factory import REPO


def lab_binaries(root: bool = False) -> tuple[str, str]:
    """The etcd and etcdctl the lab runs (LAB_ETCD / LAB_ETCDCTL, else the installed ones), or a skip."""
    etcd = os.environ.get("LAB_ETCD") or shutil.which("etcd")
    etcdctl = os.environ.get("LAB_ETCDCTL") or shutil.which("etcdctl")
    if not (etcd and etcdctl):
        pytest.skip("needs etcd and etcdctl (Debian: etcd-server etcd-client)")
    if root and os.geteuid() != 0:
        pytest.skip("needs root: one member's disk is slowed through a loop device and its throttle")
    return etcd, etcdctl


@pytest.fixture(scope="session")
def fresh_lab_bundle(tmp_path_factory):
    """Run scripts/lab/scenario.py (real etcd, real faults) and return (archive, ground_truth.jsonl).

    ETCD_PERF_FRESH_LAB=DIR reuses the output of an earlier `scenario.py DIR` instead (to re-run the lab
    tests on one bundle while working on the analysis)."""
    reuse = os.environ.get("ETCD_PERF_FRESH_LAB")
    if reuse:
        (archive,) = Path(reuse).glob("etcd-bundle-*.tar.gz")
        return archive, Path(reuse) / "ground_truth.jsonl"
    etcd, etcdctl = lab_binaries()
    out = tmp_path_factory.mktemp("scenario")
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lab" / "scenario.py"), str(out), "--etcd", etcd, "--etcdctl", etcdctl],
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(r.stdout)
    assert r.returncode == 0, r.stderr[-3000:]
    for line in r.stdout.splitlines():
        if "slow_disk_skipped" in line:
            print(f"NOTE: disk faults skipped on this machine: {line}")
    (archive,) = out.glob("etcd-bundle-*.tar.gz")
    return archive, out / "ground_truth.jsonl"


@pytest.fixture(scope="session")
def fresh_lab_pair(tmp_path_factory):
    """Run scripts/lab/pair.py (one real cluster collected twice, healthy then with a follower's disk
    throttled) and return (before archive, after archive, ground_truth.jsonl).

    ETCD_PERF_FRESH_PAIR=DIR reuses the output of an earlier `pair.py DIR`."""
    reuse = os.environ.get("ETCD_PERF_FRESH_PAIR")
    if reuse:
        out = Path(reuse)
    else:
        etcd, etcdctl = lab_binaries(root=True)
        out = tmp_path_factory.mktemp("pair")
        r = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "lab" / "pair.py"), str(out), "--etcd", etcd, "--etcdctl", etcdctl],
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(r.stdout)
        assert r.returncode == 0, r.stderr[-3000:]
    (before,) = (out / "before").glob("etcd-bundle-*.tar.gz")
    (after,) = (out / "after").glob("etcd-bundle-*.tar.gz")
    return before, after, out / "ground_truth.jsonl"


@pytest.fixture(scope="session")
def fresh_lab_series(tmp_path_factory):
    """Run scripts/lab/series.py (20 bundles of one real cluster, a follower's disk throttled from the
    14th on) and return (archives in order, ground_truth.jsonl). ETCD_PERF_FRESH_SERIES=DIR reuses one."""
    reuse = os.environ.get("ETCD_PERF_FRESH_SERIES")
    if reuse:
        out = Path(reuse)
    else:
        etcd, etcdctl = lab_binaries(root=True)
        out = tmp_path_factory.mktemp("series")
        r = subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts" / "lab" / "series.py"),
                str(out),
                "--etcd",
                etcd,
                "--etcdctl",
                etcdctl,
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        print(r.stdout)
        assert r.returncode == 0, r.stderr[-3000:]
    archives = sorted((out / "bundles").glob("*-etcd-bundle-*.tar.gz"))
    return archives, out / "ground_truth.jsonl"
