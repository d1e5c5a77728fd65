"""The code base stays ruff-clean; checked with the tests so a red lint is a red CI."""

import shutil
import subprocess

import pytest

from tests.factory import REPO


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed (pip install -e '.[test]')")
def test_ruff_clean():
    r = subprocess.run(["ruff", "check", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout
