"""The output directory is replaced whole or not at all: a crash mid-write, a full disk or a failed
rename never leaves a half-overwritten analysis, and no staging directory is left behind. Only an
earlier analysis is ever replaced: a directory with anyone else's files in it is refused."""

import os
import subprocess
import sys

import pytest

from etcd_perf.analyze import outputs
from etcd_perf.analyze.outputs import write_outputs
from etcd_perf.gather.errors import BundleError
from tests.factory import SAMPLE


def listing(parent):
    return sorted(p.name for p in parent.iterdir())


def contents(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_a_new_analysis_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "report"
    write_outputs(out, {"analysis.json": b"old", "performance_report.html": b"from the last run"})
    write_outputs(out, {"analysis.json": b"new"})
    assert contents(out) == {"analysis.json": b"new"}
    assert listing(tmp_path) == ["report"]


def test_a_failure_while_writing_leaves_the_previous_analysis_untouched(tmp_path):
    out = tmp_path / "report"
    write_outputs(out, {"analysis.json": b"old", "disk_metrics.txt": b"old"})
    with pytest.raises(TypeError):
        write_outputs(out, {"analysis.json": b"new", "disk_metrics.txt": None})  # the second file cannot be written
    assert contents(out) == {"analysis.json": b"old", "disk_metrics.txt": b"old"}
    assert listing(tmp_path) == ["report"]


def test_a_failed_rename_puts_the_previous_analysis_back(tmp_path, monkeypatch):
    out = tmp_path / "report"
    write_outputs(out, {"analysis.json": b"old"})
    real_rename = os.rename
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # moving the new analysis into place
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(outputs.os, "rename", flaky)
    with pytest.raises(OSError):
        write_outputs(out, {"analysis.json": b"new"})
    assert contents(out) == {"analysis.json": b"old"}
    assert listing(tmp_path) == ["report"]


@pytest.mark.parametrize("foreign", ["thesis.txt", "etcd-bundle-case1234.tar.gz", "sub/dir"])
def test_a_directory_with_other_files_is_refused_and_left_untouched(tmp_path, foreign):
    out = tmp_path / "case-1234"
    (out / foreign).parent.mkdir(parents=True, exist_ok=True)
    (out / foreign).write_bytes(b"the customer's")
    (out / "analysis.json").write_bytes(b"{}")
    with pytest.raises(BundleError, match="would be replaced whole"):
        write_outputs(out, {"analysis.json": b"new"})
    assert (out / foreign).read_bytes() == b"the customer's" and (out / "analysis.json").read_bytes() == b"{}"
    assert listing(tmp_path) == ["case-1234"]


def test_a_file_is_refused_and_an_empty_directory_taken(tmp_path):
    (tmp_path / "notes").write_bytes(b"mine")
    with pytest.raises(BundleError, match="not a directory"):
        write_outputs(tmp_path / "notes", {"analysis.json": b"new"})
    assert (tmp_path / "notes").read_bytes() == b"mine"
    (tmp_path / "empty").mkdir()
    write_outputs(tmp_path / "empty", {"analysis.json": b"new"})
    assert contents(tmp_path / "empty") == {"analysis.json": b"new"}


def test_the_cli_refuses_before_it_analyses_with_one_line(tmp_path):
    (tmp_path / "thesis.txt").write_bytes(b"precious")
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from etcd_perf.analyze.cli import main; main()",
            "analyze",
            str(SAMPLE),
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 3 and len(r.stderr.splitlines()) == 1 and "thesis.txt" in r.stderr, r.stderr
    assert listing(tmp_path) == ["thesis.txt"] and (tmp_path / "thesis.txt").read_bytes() == b"precious"
