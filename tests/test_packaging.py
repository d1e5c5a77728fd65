"""The installed wheel carries the catalogues, templates and the sample, and analyses it anywhere."""

import subprocess
import sys
import venv
import zipfile

from tests.factory import REPO


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
        "gather/messages.yaml",
        "analyze/rules.yaml",
        "analyze/templates/report.html.j2",
        "analyze/templates/compare.html.j2",
        "analyze/templates/history.html.j2",
        "analyze/compare/engine.py",
        "analyze/fleet/store.py",
        "etcd_perf_sample/etcd_info/member_list.json",
    } <= names
    assert any(n.startswith("etcd_perf_sample/namespaces/") and n.endswith("current.log") for n in names)

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
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run(
        [str(env_dir / "bin" / "etcd-perf"), "analyze", "--format", "json"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert '"path": "sample"' in r.stdout
    (work / "a").mkdir()
    (work / "a" / "analysis.json").write_text(r.stdout)
    r = subprocess.run(
        [str(env_dir / "bin" / "etcd-perf"), "compare", "a", "a/analysis.json", "--format", "json"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert '"verdict": "unchanged"' in r.stdout
