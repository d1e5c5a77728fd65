"""The per-area detail files quote the bundle's lines, the most recent DETAIL_LINES of each area, and
say how many earlier ones they leave to the bundle."""

import json
import re

import pytest

from etcd_perf.analyze import outputs
from etcd_perf.analyze.cli import main


def run(tmp_path, capsys) -> dict[str, str]:
    with pytest.raises(SystemExit):
        main(["analyze", "--duration", "all", "--output", str(tmp_path)])
    capsys.readouterr()
    return {p.name: p.read_text() for p in tmp_path.iterdir() if p.suffix == ".txt"}


def test_detail_lines_are_quoted_whole_and_in_time_order(tmp_path, capsys):
    lines = run(tmp_path, capsys)["backend_raw_logs.txt"].splitlines()
    assert len(lines) > 2 and not lines[0].startswith("#")
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)
    assert all('"msg":"apply request took too long"' in x or "failed to apply" in x for x in lines)


def test_a_capped_area_keeps_the_most_recent_lines_and_says_so(tmp_path, capsys, monkeypatch):
    full = run(tmp_path / "full", capsys)["backend_raw_logs.txt"].splitlines()
    monkeypatch.setattr(outputs, "DETAIL_LINES", 2)
    capped = run(tmp_path / "capped", capsys)["backend_raw_logs.txt"].splitlines()
    assert capped[0] == (
        f"# {len(full) - 2} earlier line(s) in the window are not repeated here: the most recent 2 are; "
        "the bundle has them all"
    )
    assert capped[1:] == full[-2:]


def test_each_log_is_read_back_once_for_the_evidence_and_the_detail_files_together(tmp_path, capsys, monkeypatch):
    from etcd_perf.gather import bundle as bundle_module

    reads: list[int] = []
    real = bundle_module.file_excerpts

    def counting(path, join_partials, wanted, starts=()):
        reads.append(len(wanted))
        return real(path, join_partials, wanted, starts)

    monkeypatch.setattr(bundle_module, "file_excerpts", counting)
    files = run(tmp_path, capsys)
    quoted = {m.group(1) for text in files.values() for m in re.finditer(r"^\S+ \S+ \S+ (\S+):\d+ ", text, re.M)}
    report = json.loads((tmp_path / "analysis.json").read_text())
    cited = {e["file"] for f in report["findings"] for e in f["evidence"] if e["file"] in quoted}
    assert quoted and cited  # the findings cite lines of logs the detail files quote too
    assert len(reads) == len(quoted), reads  # yet each log is read back once
