"""The installed wheel carries the catalogues, templates and the sample, and analyses it anywhere; it puts one
import package, etcd_perf, in site-packages and nothing else of ours."""

import os
import platform
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from etcd_perf.analyze import cli
from tests.factory import REPO


def run(*cmd: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_wheel_analyses_the_embedded_sample_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("etcd_perf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "etcd_perf/__init__.py",
        "etcd_perf/gather/messages.yaml",
        "etcd_perf/analyze/rules.yaml",
        "etcd_perf/analyze/templates/report.html.j2",
        "etcd_perf/analyze/templates/compare.html.j2",
        "etcd_perf/analyze/templates/history.html.j2",
        "etcd_perf/analyze/compare/engine.py",
        "etcd_perf/analyze/fleet/store.py",
        "etcd_perf/sample/etcd_info/member_list.json",
    } <= names
    assert any(n.startswith("etcd_perf/sample/namespaces/") and n.endswith("current.log") for n in names)
    assert {n.split("/")[0] for n in names} == {"etcd_perf", "etcd_perf-0.1.0.dist-info"}

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "-q",
            "--no-deps",
            "--ignore-installed",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # what the install put in the venv's site-packages: one package and its dist-info
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sorted(p.name for p in Path(purelib).iterdir()) == ["etcd_perf", "etcd_perf-0.1.0.dist-info"]
    work = tmp_path / "elsewhere"
    work.mkdir()
    # that package is the one imported, and no top-level gather/analyze comes with it
    probe = (
        "import sys, etcd_perf.analyze.cli as c; print(c.__file__); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'analyze', 'gather', 'etcd_perf_sample'}))"
    )
    r = run(py, "-c", probe, cwd=work)
    assert r.returncode == 0, r.stderr
    where, stray = r.stdout.splitlines()
    assert Path(where).is_relative_to(purelib) and stray == "[]", r.stdout
    r = run(py, "-m", "etcd_perf", "--version", cwd=work)
    assert r.returncode == 0 and r.stdout.startswith("etcd-perf 0.1.0"), (r.stdout, r.stderr)
    r = run(env_dir / "bin" / "etcd-perf", "analyze", "--format", "json", cwd=work)
    assert r.returncode == 2, r.stderr
    assert '"path": "sample"' in r.stdout
    (work / "a").mkdir()
    (work / "a" / "analysis.json").write_text(r.stdout)
    r = run(env_dir / "bin" / "etcd-perf", "compare", "a", "a/analysis.json", "--format", "json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert '"verdict": "unchanged"' in r.stdout


def test_polars_allocator_gives_freed_memory_back_at_once_unless_the_user_configured_it(tmp_path):
    # etcd_perf sets jemalloc's decays to 0.1 s and 0 (BENCHMARKS.md, sessions 14-16) before polars loads it
    code = "import os, etcd_perf, polars; print(os.environ['_RJEM_MALLOC_CONF'])"
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    ours = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert ours.stdout.strip().endswith(",dirty_decay_ms:100,muzzy_decay_ms:0")
    env["_RJEM_MALLOC_CONF"] = "narenas:2"
    theirs = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert theirs.stdout.strip().endswith(",narenas:2") and "muzzy_decay_ms:0" not in theirs.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_cli_gives_freed_log_reads_back_unless_the_user_chose_a_threshold(monkeypatch):
    # glibc's dynamic mmap threshold kept some 100 MB of freed 32 MB reads (etcd_perf/allocator.py)
    code = "from etcd_perf.allocator import return_big_blocks; print(return_big_blocks())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    ours = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert ours.stdout.strip() == ("True" if platform.libc_ver()[0] == "glibc" else "False")
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    theirs = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert theirs.stdout.strip() == "False"
    called = []
    monkeypatch.setattr(cli, "return_big_blocks", lambda: called.append(True))
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert called == [True]
