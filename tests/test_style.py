"""The code base stays ruff-clean; checked with the tests so a red lint is a red CI."""

import shutil
import subprocess

import pytest

from tests.factory import REPO


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed (pip install -e '.[test]')")
def test_ruff_clean():
    r = subprocess.run(["ruff", "check", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout


def test_the_code_imports_its_parts_through_the_etcd_perf_package():
    """From the checkout, ``import analyze`` would still work (the repository root is on sys.path); an
    installed wheel has no such module, and a module imported under both names exists twice. So every import
    of our own code goes through ``etcd_perf``."""
    import ast

    own = {"analyze", "gather", "etcd_perf_sample"}
    stray = []
    for path in sorted(REPO.glob("*/**/*.py")):
        if path.relative_to(REPO).parts[0] in {"build", ".git"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )
            stray += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names if n.split(".")[0] in own]
    assert stray == []
