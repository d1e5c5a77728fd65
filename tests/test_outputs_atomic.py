"""The output directory is replaced whole or not at all: a crash mid-write, a full disk or a failed
rename never leaves a half-overwritten analysis, and no staging directory is left behind."""

import os

import pytest

from analyze import outputs
from analyze.outputs import write_outputs


def listing(parent):
    return sorted(p.name for p in parent.iterdir())


def contents(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_a_new_analysis_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "report"
    write_outputs(out, {"a.txt": b"old", "stale.txt": b"from the last run"})
    write_outputs(out, {"a.txt": b"new"})
    assert contents(out) == {"a.txt": b"new"}
    assert listing(tmp_path) == ["report"]


def test_a_failure_while_writing_leaves_the_previous_analysis_untouched(tmp_path):
    out = tmp_path / "report"
    write_outputs(out, {"a.txt": b"old", "b.txt": b"old"})
    with pytest.raises(TypeError):
        write_outputs(out, {"a.txt": b"new", "b.txt": None})  # the second file cannot be written
    assert contents(out) == {"a.txt": b"old", "b.txt": b"old"}
    assert listing(tmp_path) == ["report"]


def test_a_failed_rename_puts_the_previous_analysis_back(tmp_path, monkeypatch):
    out = tmp_path / "report"
    write_outputs(out, {"a.txt": b"old"})
    real_rename = os.rename
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # moving the new analysis into place
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(outputs.os, "rename", flaky)
    with pytest.raises(OSError):
        write_outputs(out, {"a.txt": b"new"})
    assert contents(out) == {"a.txt": b"old"}
    assert listing(tmp_path) == ["report"]
