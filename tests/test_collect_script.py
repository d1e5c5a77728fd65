"""scripts/collect.sh: shellcheck-clean, documented, and failing with one clear line when it cannot run."""

import shutil
import subprocess

import pytest

from tests.factory import REPO

SCRIPT = REPO / "scripts" / "collect.sh"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (Debian: shellcheck)")
def test_shell_scripts_are_shellcheck_clean():
    scripts = [SCRIPT, REPO / "scripts" / "lab" / "fetch-etcd35.sh", REPO / ".ci" / "run"]
    r = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_help_documents_the_options():
    r = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for option in ("--duration", "--since", "--output", "--namespace"):
        assert option in r.stdout


def test_missing_oc_is_one_clear_line(tmp_path):
    r = subprocess.run(
        ["bash", str(SCRIPT), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OC": "oc-that-does-not-exist"},
    )
    assert r.returncode == 3
    assert r.stderr.strip() == "collect.sh: 'oc-that-does-not-exist' not found in PATH"
