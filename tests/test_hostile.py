"""Hostile bundles: truncated, repacked by hand, odd, or crafted. Never a crash, never a write outside the
private temp dir, never a silent drop: every case runs through the CLI and ends in 0/1/2/3 with no
traceback, and the damage it carries shows up in the report.

Each case builds its bundle here, from real lines (tests/real_lines.py) and real etcdctl output.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import os
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from etcd_perf.analyze.cli import main
from tests import real_lines as R
from tests.factory import make_must_gather, pod_logs_dir
from tests.test_etcd_info import MEMBER_LIST, STATUS_NOSPACE

GOOD = [R.ZAP34_APPLY, R.ZAP34_ELECTION, R.ZAP34_HEARTBEAT]
OUTSIDE = "escaped.txt"  # what a crafted member tries to create next to the bundle


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code), out, err


def bundle_dir(tmp: Path, lines: list[str] | bytes | None = None, info: dict[str, str] | None = None, **kw) -> Path:
    logs = {"master-0": {"current": lines if lines is not None else GOOD}}
    return make_must_gather(tmp / "mg", logs, etcd_info=info, **kw)


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for info, data in members:
            info.size = len(data) if data is not None else 0
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


def good_log_member() -> tuple[tarfile.TarInfo, bytes]:
    data = ("\n".join(GOOD) + "\n").encode()
    return member("mg/namespaces/openshift-etcd/pods/etcd-master-0/etcd/etcd/logs/current.log"), data


def packed(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def good_tgz(tmp: Path) -> bytes:
    src = bundle_dir(tmp, lines=GOOD * 200, info={"member_list.json": MEMBER_LIST})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src, arcname="mg")
    return buf.getvalue()


def good_zip(tmp: Path) -> bytes:
    src = bundle_dir(tmp, lines=GOOD * 200, info={"member_list.json": MEMBER_LIST})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(src).as_posix())
    return buf.getvalue()


def zap(ts: str, msg: str = "slow fdatasync", **fields: object) -> str:
    return json.dumps(
        {"level": "warn", "ts": ts, "caller": "wal/wal.go:805", "msg": msg, **fields}, separators=(",", ":")
    )


# ---------------------------------------------------------------------------------------------- cases
# name -> builder(tmp) -> (bundle path, extra CLI args)
Case = Callable[[Path], tuple[Path, list[str]]]
CASES: dict[str, Case] = {
    # nothing usable
    "empty directory": lambda t: ((t / "empty").mkdir() or t / "empty", []),
    "a file that is no archive": lambda t: (packed(t, "bundle.bin", os.urandom(4096)), []),
    "random bytes named .tar.gz": lambda t: (packed(t, "b.tar.gz", os.urandom(4096)), []),
    "valid but empty .tar.gz": lambda t: (packed(t, "b.tar.gz", tar_bytes([])), []),
    "zero-byte etcd_info only": lambda t: (
        bundle_dir(t, lines=[], info={n: "" for n in ("member_list.json", "endpoint_status.json", "alarm_list.json")}),
        [],
    ),
    "{} etcd_info only": lambda t: (
        bundle_dir(
            t, lines=[], info={n: "{}" for n in ("member_list.json", "endpoint_status.json", "alarm_list.json")}
        ),
        [],
    ),
    # etcd_info oddities
    "header-only alarm list": lambda t: (
        bundle_dir(t, info={"member_list.json": MEMBER_LIST, "alarm_list.json": '{"header":{"cluster_id":1}}'}),
        [],
    ),
    "IDs above 2^53": lambda t: (
        bundle_dir(t, info={"member_list.json": MEMBER_LIST, "endpoint_status.json": STATUS_NOSPACE}),
        [],
    ),
    "member missing from endpoint status": lambda t: (
        bundle_dir(t, info={"member_list.json": MEMBER_LIST, "endpoint_status.json": "[]"}),
        [],
    ),
    "etcd_info with wrong types": lambda t: (
        bundle_dir(
            t,
            info={
                "member_list.json": '{"members":"all of them"}',
                "endpoint_status.json": '{"Endpoint":7}',
                "endpoint_health.json": "[1,2,3]",
                "alarm_list.json": '{"alarms":[{"memberID":"x","alarm":5}]}',
            },
        ),
        [],
    ),
    # garbage in the logs
    "binary junk": lambda t: (bundle_dir(t, lines=os.urandom(20000) + b"\n" + R.ZAP34_APPLY.encode() + b"\n"), []),
    "NUL bytes inside lines": lambda t: (bundle_dir(t, lines=[R.ZAP34_APPLY, "abc\x00def\x00", *GOOD]), []),
    "invalid UTF-8": lambda t: (bundle_dir(t, lines=b"\xff\xfe\xc3(\n" + R.ZAP34_APPLY.encode() + b"\n\xe2\x82\n"), []),
    "a 10 MB line": lambda t: (bundle_dir(t, lines=[R.ZAP34_APPLY, "x" * 10_000_000, R.ZAP34_HEARTBEAT]), []),
    "truncated last line": lambda t: (
        bundle_dir(t, lines=("\n".join(GOOD) + "\n" + R.ZAP34_APPLY[:-40]).encode()),
        [],
    ),
    "JSON with wrong types": lambda t: (
        bundle_dir(
            t,
            lines=[
                '{"level":"warn","ts":"2020-06-30T01:18:21.061Z","msg":"slow fdatasync","took":12,'
                '"expected-duration":[]}',
                '{"level":5,"ts":{"a":1},"msg":"apply request took too long","took":null,"request":{"k":1}}',
                '{"level":"warn","ts":"2020-06-30T01:18:22Z","msg":7,"note":"slow fdatasync"}',
                "[1,2,3]",
                '"just a string"',
                *GOOD,
            ],
        ),
        [],
    ),
    "timestamps out of order": lambda t: (
        bundle_dir(
            t,
            lines=[
                zap("2024-05-13T09:00:00Z", took="1.5s"),
                zap("2024-05-13T08:00:00Z", took="1.2s"),
                zap("2024-05-13T09:00:01Z", took="1.1s"),
            ],
        ),
        ["--duration", "all"],
    ),
    "timestamps in the future": lambda t: (
        bundle_dir(
            t,
            lines=[zap("2024-05-13T09:00:00Z", took="1.5s"), zap("2031-01-01T00:00:00Z", took="2s")],
            timestamp="2024-05-13 09:10:00.000000 +0000 UTC m=+0.1\n",
        ),
        ["--duration", "all"],
    ),
    "duplicate files": lambda t: (
        make_must_gather(t / "mg", {"master-0": {"previous": GOOD, "current": GOOD}}),
        ["--duration", "all"],
    ),
    "only blank lines": lambda t: (bundle_dir(t, lines=["", "   ", "\t"]), []),
    "CRI partial chunks with no final chunk": lambda t: (
        make_must_gather(
            t / "mg",
            {"master-0": {"rotated/0.log.20240513-090000": [f"2024-05-13T09:00:00.0Z stdout P {R.ZAP34_APPLY[:50]}"]}},
        ),
        [],
    ),
    "a rotated .gz log cut short": lambda t: (
        _with_file(
            bundle_dir(t),
            "rotated/0.log.20240513-090000.gz",
            gzip.compress(("\n".join(GOOD * 50) + "\n").encode())[:300],
        ),
        [],
    ),
    "a symlink in a directory bundle pointing outside": lambda t: (_symlinked(t), []),
    # crafted archives
    "tar member with an absolute path": lambda t: (
        packed(t, "b.tar.gz", tar_bytes([good_log_member(), (member(str(t / OUTSIDE)), b"pwned")])),
        [],
    ),
    "tar member with ..": lambda t: (
        packed(t, "b.tar.gz", tar_bytes([good_log_member(), (member(f"../../{OUTSIDE}"), b"pwned")])),
        [],
    ),
    "tar symlink leading out": lambda t: (
        packed(
            t,
            "b.tar.gz",
            tar_bytes(
                [
                    (member("mg/link", tarfile.SYMTYPE, str(t)), None),
                    (member(f"mg/link/{OUTSIDE}"), b"pwned"),
                    good_log_member(),
                ]
            ),
        ),
        [],
    ),
    "tar hard link leading out": lambda t: (
        packed(
            t,
            "b.tar.gz",
            tar_bytes([(member("mg/passwd", tarfile.LNKTYPE, "/etc/passwd"), None), good_log_member()]),
        ),
        [],
    ),
    "tar with a device and a FIFO": lambda t: (
        packed(
            t,
            "b.tar.gz",
            tar_bytes(
                [
                    (member("mg/dev", tarfile.CHRTYPE), None),
                    (member("mg/fifo", tarfile.FIFOTYPE), None),
                    good_log_member(),
                ]
            ),
        ),
        [],
    ),
    "truncated .tar.gz": lambda t: (packed(t, "b.tar.gz", (d := good_tgz(t))[: len(d) * 2 // 3]), []),
    "truncated .tar.xz": lambda t: (packed(t, "b.tar.xz", (d := _txz(t))[: len(d) * 2 // 3]), []),
    "truncated .zip": lambda t: (packed(t, "b.zip", (d := good_zip(t))[: len(d) * 2 // 3]), []),
    "zip member with ..": lambda t: (packed(t, "b.zip", _zip_with(f"../../{OUTSIDE}")), []),
    "damaged zip with a NUL in a member name": lambda t: (packed(t, "b.zip", _damaged_zip_with_nul_name()), []),
    "archive over --max-bytes": lambda t: (packed(t, "b.tar.gz", good_tgz(t)), ["--max-bytes", "3000"]),
    "archive over --max-members": lambda t: (packed(t, "b.tar.gz", good_tgz(t)), ["--max-members", "1"]),
    # other files of the bundle
    "metrics dump of garbage": lambda t: (
        _with_info_file(bundle_dir(t), "metrics.openmetrics", b"\x00\x01garbage{{{\nmetric{le=} NaN x\n"),
        [],
    ),
    "metrics with NaN, Inf and negative counts": lambda t: (
        _with_info_file(
            bundle_dir(t),
            "metrics.openmetrics",
            b'etcd_disk_wal_fsync_duration_seconds_bucket{pod="etcd-master-0",le="0.001"} NaN 1700000000\n'
            b'etcd_disk_wal_fsync_duration_seconds_bucket{pod="etcd-master-0",le="+Inf"} -5 1700000000\n'
            b'etcd_disk_wal_fsync_duration_seconds_bucket{pod="etcd-master-0",le="+Inf"} +Inf 1700000060\n'
            b"# EOF\n",
        ),
        [],
    ),
    "pod YAML of garbage": lambda t: (_with_pod_yaml(bundle_dir(t), b"{{{ not: [yaml\n\x00"), []),
    "bundle.json with wrong types": lambda t: (
        _with_root_file(bundle_dir(t), "bundle.json", b'{"collected_at": 17, "commands": "all", "cluster": []}'),
        [],
    ),
    "garbage timestamp file": lambda t: (_with_root_file(bundle_dir(t), "timestamp", os.urandom(200)), []),
    "HTML and markdown in a log line": lambda t: (
        bundle_dir(
            t,
            lines=[R.ZAP34_APPLY.replace("/registry/namespaces/default", "<script>alert(1)</script>[x](http://evil)")],
        ),
        ["--export-html", "--duration", "all"],
    ),
}


def _root(path: Path) -> Path:
    return next(p.parent.parent for p in path.rglob("openshift-etcd") if p.parent.name == "namespaces")


def _with_file(mg: Path, name: str, data: bytes) -> Path:
    d = pod_logs_dir(_root(mg), "master-0") / name
    d.parent.mkdir(parents=True, exist_ok=True)
    d.write_bytes(data)
    return mg


def _with_info_file(mg: Path, name: str, data: bytes) -> Path:
    d = _root(mg) / "etcd_info"
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data)
    return mg


def _with_pod_yaml(mg: Path, data: bytes) -> Path:
    pod = _root(mg) / "namespaces" / "openshift-etcd" / "pods" / "etcd-master-0"
    (pod / "etcd-master-0.yaml").write_bytes(data)
    return mg


def _with_root_file(mg: Path, name: str, data: bytes) -> Path:
    (_root(mg) / name).write_bytes(data)
    return mg


def _symlinked(t: Path) -> Path:
    secret = t / "secret.log"
    secret.write_text(R.ZAP34_APPLY.replace("default", "SECRET-OUTSIDE-THE-BUNDLE") + "\n")
    mg = bundle_dir(t)
    link = pod_logs_dir(_root(mg), "master-1") / "current.log"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    (_root(mg) / "etcd_info").mkdir(exist_ok=True)
    (_root(mg) / "etcd_info" / "member_list.json").symlink_to(secret)
    return mg


def _txz(t: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(good_tgz(t)), mode="r:gz") as raw, tarfile.open(fileobj=buf, mode="w") as out:
        for m in raw:
            out.addfile(m, raw.extractfile(m) if m.isfile() else None)
    return lzma.compress(buf.getvalue())


def _zip_with(evil: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "mg/namespaces/openshift-etcd/pods/etcd-master-0/etcd/etcd/logs/current.log", "\n".join(GOOD) + "\n"
        )
        zf.writestr(evil, "pwned")
    return buf.getvalue()


def _damaged_zip_with_nul_name() -> bytes:
    """A zip cut before its central directory (read back from the local headers), one of whose names
    holds a NUL byte, which zipfile itself would have cut off at the NUL (found by hypothesis)."""
    data = _zip_with("mg/evilXname.log").replace(b"evilXname", b"evil\x00name")
    return data[: data.find(b"PK\x01\x02")]


def test_the_suite_has_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def case(request, tmp_path):
    path, args = CASES[request.param](tmp_path)
    return request.param, path, args, tmp_path


def test_every_hostile_bundle_ends_in_a_verdict_or_one_clear_line(case, capsys):
    name, path, args, tmp = case
    out_dir = tmp / "report"
    code, _, err = cli(capsys, "analyze", str(path), "--output", str(out_dir), *args)
    assert code in (0, 1, 2, 3), (name, code, err)
    assert "Traceback" not in err and "internal error" not in err, (name, err)
    if code == 3:
        assert len(err.strip().splitlines()) == 1, (name, err)
        assert err.startswith("etcd-perf: "), err
    else:
        assert (out_dir / "analysis.json").is_file()
    assert not (tmp / OUTSIDE).exists() and not (tmp.parent / OUTSIDE).exists(), name


def analysed(capsys, tmp: Path, name: str) -> dict:
    path, args = CASES[name](tmp)
    code, _, err = cli(capsys, "analyze", str(path), "--output", str(tmp / "report"), *args)
    assert code in (0, 1, 2), err
    return orjson.loads((tmp / "report" / "analysis.json").read_bytes())


def finding_ids(analysis: dict) -> set[str]:
    return {f["id"] for f in analysis["findings"]}


@pytest.mark.parametrize(
    "name", ["empty directory", "valid but empty .tar.gz", "zero-byte etcd_info only", "random bytes named .tar.gz"]
)
def test_nothing_usable_is_exit_3_with_one_line(name, tmp_path, capsys):
    path, args = CASES[name](tmp_path)
    code, out, err = cli(capsys, "analyze", str(path), "--output", str(tmp_path / "r"), *args)
    assert code == 3 and out == "" and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "name",
    [
        "truncated .tar.gz",
        "truncated .tar.xz",
        "truncated .zip",
        "archive over --max-bytes",
        "archive over --max-members",
        "a rotated .gz log cut short",
    ],
)
def test_a_damaged_bundle_is_analysed_as_far_as_readable_and_said_to_be_damaged(name, tmp_path, capsys):
    a = analysed(capsys, tmp_path, name)
    assert a["data_quality"]["damaged"] is True
    assert "bundle_damaged" in finding_ids(a)


@pytest.mark.parametrize(
    "name",
    [
        "tar member with an absolute path",
        "tar member with ..",
        "tar symlink leading out",
        "tar hard link leading out",
        "tar with a device and a FIFO",
        "zip member with ..",
        "damaged zip with a NUL in a member name",
    ],
)
def test_crafted_members_are_refused_reported_and_the_rest_analysed(name, tmp_path, capsys):
    a = analysed(capsys, tmp_path, name)
    assert a["data_quality"]["archive_members_refused"] >= 1
    assert "archive_members_refused" in finding_ids(a)
    assert any("refused archive member" in p for p in a["data_quality"]["problems"])
    assert a["logs"]["events"] >= 1  # the honest member beside the crafted one was read
    assert not (tmp_path / OUTSIDE).exists()


def test_garbage_lines_are_counted_in_data_quality(tmp_path, capsys):
    dq = analysed(capsys, tmp_path / "a", "NUL bytes inside lines")["data_quality"]
    assert dq["binary_lines"] >= 1
    dq = analysed(capsys, tmp_path / "b", "a 10 MB line")["data_quality"]
    assert dq["long_lines"] == 1
    dq = analysed(capsys, tmp_path / "c", "invalid UTF-8")["data_quality"]
    assert any("invalid UTF-8" in p for p in dq["problems"])
    dq = analysed(capsys, tmp_path / "d", "truncated last line")["data_quality"]
    assert dq["invalid_json_lines"] >= 1 and any("cut off mid-line" in p for p in dq["problems"])
    a = analysed(capsys, tmp_path / "e", "JSON with wrong types")
    # a msg that is no string is broken JSON; JSON that is no zap line is a stray line; the rest is read
    assert a["data_quality"]["invalid_json_lines"] >= 1 and a["data_quality"]["unparsed_lines"] >= 2
    assert a["logs"]["events"] >= 3


def test_times_going_backwards_and_from_the_future_are_counted(tmp_path, capsys):
    assert analysed(capsys, tmp_path / "a", "timestamps out of order")["data_quality"]["time_backwards"] == 1
    assert analysed(capsys, tmp_path / "b", "timestamps in the future")["data_quality"]["future_events"] == 1


def test_duplicate_files_are_named_and_their_events_counted_once(tmp_path, capsys):
    a = analysed(capsys, tmp_path, "duplicate files")
    assert any("same content as" in p for p in a["data_quality"]["problems"])
    (m,) = [m for m in a["members"] if m["name"] == "master-0"]
    assert m["slow_apply"]["count"] == 1


def test_symlinks_in_a_directory_bundle_are_not_followed(tmp_path, capsys):
    path, args = CASES["a symlink in a directory bundle pointing outside"](tmp_path)
    code, _, _ = cli(capsys, "analyze", str(path), "--output", str(tmp_path / "r"), "--export-html", *args)
    assert code in (0, 1, 2)
    for f in (tmp_path / "r").iterdir():
        assert b"SECRET-OUTSIDE-THE-BUNDLE" not in f.read_bytes(), f.name
    a = orjson.loads((tmp_path / "r" / "analysis.json").read_bytes())
    assert any("symlink" in p for p in a["data_quality"]["problems"])


def test_markup_from_the_bundle_renders_inert(tmp_path, capsys):
    analysed(capsys, tmp_path, "HTML and markdown in a log line")
    html = (tmp_path / "report" / "performance_report.html").read_text()
    md = (tmp_path / "report" / "performance_report.md").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert '<a href="http://evil' not in html
    # markdown: the crafted link only ever stands inside a code span, where it is text
    for line in md.splitlines():
        if "[x](http://evil)" in line:
            before = line[: line.index("[x](http://evil)")]
            assert len(re.findall(r"`+", before)) % 2 == 1, line


def test_members_missing_from_endpoint_status_are_not_healthy(tmp_path, capsys):
    a = analysed(capsys, tmp_path, "member missing from endpoint status")
    assert a["status"] != "HEALTHY" and "membership_inconsistent" in finding_ids(a)
    assert a["consistency"]["missing_from_endpoint_status"]


def test_empty_and_brace_only_etcd_info_files_are_named_in_data_quality(tmp_path, capsys):
    path = bundle_dir(
        tmp_path, info={"member_list.json": MEMBER_LIST, "endpoint_status.json": "", "alarm_list.json": "{}"}
    )
    code, _, _ = cli(capsys, "analyze", str(path), "--output", str(tmp_path / "r"))
    assert code in (0, 1, 2)
    problems = orjson.loads((tmp_path / "r" / "analysis.json").read_bytes())["data_quality"]["problems"]
    assert any("endpoint_status.json is empty" in p for p in problems), problems


def test_a_copy_filed_under_another_member_is_said_to_count_twice(tmp_path, capsys):
    path = make_must_gather(tmp_path / "mg", {"master-0": {"current": GOOD}, "master-1": {"current": GOOD}})
    code, _, _ = cli(capsys, "analyze", str(path), "--duration", "all", "--output", str(tmp_path / "r"))
    assert code in (0, 1, 2)
    a = orjson.loads((tmp_path / "r" / "analysis.json").read_bytes())
    (note,) = [p for p in a["data_quality"]["problems"] if "same content as" in p]
    assert "another member (master-1, not master-0)" in note and "count for both" in note
    assert {m["name"]: m["slow_apply"]["count"] for m in a["members"]} == {"master-0": 1, "master-1": 1}
