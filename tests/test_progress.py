"""The progress line: drawn on a terminal, absent from pipes and from JSON runs."""

import os
import pty
import subprocess
import sys

from etcd_perf.analyze.progress import Progress
from tests.factory import REPO

CLI = [sys.executable, "-c", "from etcd_perf.analyze.cli import main; main()", "analyze"]


def run_with_tty_stderr(args: list[str], tmp_path) -> tuple[int, bytes]:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, *args, "--output", str(tmp_path / "out")], stdout=subprocess.DEVNULL, stderr=follower, cwd=REPO
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal is gone once the child exits
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.wait(), seen


def test_a_terminal_sees_the_progress_line(tmp_path):
    code, seen = run_with_tty_stderr([], tmp_path)
    assert code == 2
    assert b"etcd-perf: parsing logs [" in seen and b"100%" in seen and b"analysing..." in seen
    assert seen.endswith(b"\r\x1b[K")  # the line is wiped before the report is printed


def test_a_json_run_on_a_terminal_draws_nothing(tmp_path):
    _, seen = run_with_tty_stderr(["--format", "json"], tmp_path)
    assert b"parsing logs" not in seen and b"\r" not in seen


def test_a_pipe_gets_no_progress(tmp_path):
    r = subprocess.run([*CLI, "--output", str(tmp_path / "out")], capture_output=True, cwd=REPO)
    assert r.returncode == 2 and r.stderr == b""


def test_progress_is_silent_when_disabled(capsys):
    p = Progress(enabled=False)
    p.phase("x")
    p.bytes(1, 2)
    p.close()
    assert capsys.readouterr().err == ""
