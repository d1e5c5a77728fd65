"""Bundle inputs: directory or archive, the root found anywhere, pods and log files recognised."""

import contextlib
import io
import json
import os
import shutil
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etcd_perf.analyze.cli import main
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from etcd_perf.gather.errors import BundleError
from tests import real_lines as R
from tests.factory import SAMPLE, SHARED_LAB_35, make_must_gather


def load(path):
    with open_bundle(path) as opened:
        return load_bundle(opened, str(path))


def test_must_gather_wrapper_and_image_dir_are_found(tmp_path):
    make_must_gather(
        tmp_path,
        {"m0": {"current": [R.ZAP34_APPLY]}},
        timestamp="2024-05-13 10:21:33.1234 +0000 UTC m=+0.01\n2024-05-13 10:25:00.5 +0000 UTC m=+200\n",
    )
    b = load(tmp_path)
    assert b.member_names == ["m0"]
    assert b.collected_at == datetime(2024, 5, 13, 10, 25, 0, 500000, UTC)
    assert b.collected_at_source == "must-gather timestamp file"
    assert b.events["file"][0].endswith("pods/etcd-m0/etcd/etcd/logs/current.log")


def test_guard_installer_and_pruner_pods_are_not_members(tmp_path):
    make_must_gather(
        tmp_path,
        {m: {"current": [R.ZAP34_APPLY]} for m in ("master-0", "guard-master-0", "quorum-guard-x")},
        wrapper=False,
    )
    root = tmp_path / "namespaces" / "openshift-etcd" / "pods"
    for pod in ("installer-3-master-0", "revision-pruner-3-master-0"):
        (root / pod).mkdir()
    assert load(tmp_path).member_names == ["master-0"]


def test_current_previous_and_rotated_logs_all_read_with_overlap_counted_once(tmp_path):
    rotated = R.CRI_SNAPSHOT.replace("F {", "F {")  # CRI-O raw file
    make_must_gather(
        tmp_path,
        {
            "m0": {
                "rotated/0.log.20230531-001949.gz": [rotated],
                "rotated/1.log.20230531-002000": [R.CRI_DROPPED],
                "previous": [R.ZAP34_HEARTBEAT],
                "current": [R.ZAP34_APPLY, R.ZAP34_APPLY.replace('"531.978977ms"', '"600ms"')],
            }
        },
    )
    # the newest rotated file overlaps the current log: the same event must count once
    b = load(tmp_path)
    kinds = [f.kind for f in b.log_files]
    assert kinds == ["rotated", "rotated", "previous", "current"]
    assert sorted(b.events["kind"].to_list()) == [
        "apply_slow",
        "apply_slow",
        "heartbeat_slow",
        "message_dropped",
        "snapshot_saved",
    ]


def test_overlapping_copies_of_one_event_count_once(tmp_path):
    make_must_gather(
        tmp_path, {"m0": {"rotated/0.log.20200630-011821": [R.KUBELET_CLOCK_DRIFT], "current": [R.KUBELET_CLOCK_DRIFT]}}
    )
    assert load(tmp_path).events.height == 1


def test_insecure_previous_log_is_used_only_when_previous_is_empty(tmp_path):
    make_must_gather(
        tmp_path, {"m0": {"previous": b"", "previous.insecure.log": [R.ZAP34_HEARTBEAT], "current": [R.ZAP34_APPLY]}}
    )
    b = load(tmp_path)
    assert sorted(b.events["kind"].to_list()) == ["apply_slow", "heartbeat_slow"]


@pytest.mark.parametrize("suffix", ["tar.gz", "tgz", "tar", "tar.xz", "zip"])
def test_archives_of_every_kind_give_the_same_events(tmp_path, suffix):
    tree = tmp_path / "tree"
    make_must_gather(tree, {"m0": {"current": [R.ZAP34_APPLY, R.ZAP34_HEARTBEAT]}})
    archive = tmp_path / f"mg.{suffix}"
    if suffix == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for p in sorted(tree.rglob("*")):
                if p.is_file():
                    zf.write(p, p.relative_to(tree).as_posix())
    else:
        mode = {"tar.gz": "w:gz", "tgz": "w:gz", "tar": "w", "tar.xz": "w:xz"}[suffix]
        with tarfile.open(archive, mode) as tf:
            tf.add(tree, arcname=".")
    b = load(archive)
    assert b.format.startswith("must-gather")
    assert sorted(b.events["kind"].to_list()) == ["apply_slow", "heartbeat_slow"]
    assert not b.events["file"][0].startswith("/")  # labels are archive paths, never temp paths


def test_archive_members_outside_the_extraction_dir_are_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name in (
            "../escape.txt",
            "/abs.txt",
            "ok/namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/current.log",
        ):
            data = (R.ZAP34_APPLY + "\n").encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("ok/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    b = load(archive)
    assert b.events.height == 1
    assert sum("refused" in p for p in b.problems) == 3
    assert not (tmp_path / "escape.txt").exists()


def test_truncated_archive_gives_what_was_readable(tmp_path):
    tree = tmp_path / "tree"
    make_must_gather(tree, {"m0": {"current": [R.ZAP34_APPLY]}, "m1": {"current": [R.ZAP34_HEARTBEAT] * 2000}})
    archive = tmp_path / "mg.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tree, arcname=".")
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    b = load(cut)
    assert b.damaged and any("damaged" in p for p in b.problems)


def test_missing_input_is_a_bundle_error(tmp_path):
    with pytest.raises(BundleError, match="no such file"), open_bundle(tmp_path / "nope.tar.gz"):
        pass


def test_lab_logs_read_from_a_directory_without_etcd_info(tmp_path):
    shutil.copytree(SHARED_LAB_35 / "namespaces", tmp_path / "namespaces")
    b = load(tmp_path)
    assert b.member_names == ["master-0", "master-1", "master-2"]
    # without member_list.json, member IDs are learned from the logs' own start-up lines
    assert b.id_names["5f7e732ee7e1253d"] == "master-0"
    assert any("no etcd_info" in p for p in b.info.problems)


def test_collect_manifest_gives_collection_time_and_reports_failed_steps(tmp_path):
    make_must_gather(tmp_path, {"m0": {"current": [R.ZAP34_APPLY]}}, wrapper=False)
    (tmp_path / "bundle.json").write_text(
        '{"format": "etcd-perf-bundle", "format_version": 1, "collected_at": "2020-06-30T01:30:00Z", "commands": ['
        '{"command": ["oc", "logs", "etcd-m1"], "exit_status": 1, "stderr": "error: container not found"}]}'
    )
    b = load(tmp_path)
    assert b.collected_at == datetime(2020, 6, 30, 1, 30, tzinfo=UTC) and b.collected_at_source == "manifest"
    assert b.format == "collect bundle"
    assert any("collect step failed (exit 1): oc logs etcd-m1: error: container not found" in p for p in b.problems)


@pytest.mark.parametrize("suffix", ["tar.gz", "zip"])
def test_a_whole_cluster_must_gather_unpacks_only_what_can_hold_etcd_data(tmp_path, suffix):
    """Audit logs and every other namespace are most of a must-gather's bytes: never written to disk, and
    the analysis is that of the etcd files alone."""
    tree = tmp_path / "tree"
    shutil.copytree(SAMPLE, tree, ignore=shutil.ignore_patterns("__init__.py", "README.md", "ground_truth.jsonl"))
    etcd_only = json.loads(_analysis_json(tree, tmp_path / "a"))
    junk = {
        "audit_logs/kube-apiserver/master-0-audit.log.gz": os.urandom(4096),
        "namespaces/openshift-monitoring/pods/prometheus-k8s-0/prometheus/prometheus/logs/current.log": b"x\n" * 999,
        "cluster-scoped-resources/core/nodes/master-0.yaml": b"kind: Node\n",
        "host_service_logs/masters/kubelet_service.log": b"z\n" * 999,
    }
    for rel, data in junk.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    archive = tmp_path / f"mg.{suffix}"
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    if suffix == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for p in files:
                zf.write(p, p.relative_to(tree).as_posix())
    else:
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(tree, arcname=".")
    with open_bundle(archive) as opened:
        unpacked = {p.relative_to(opened.root).as_posix() for p in opened.root.rglob("*") if p.is_file()}
        assert opened.skipped >= len(junk)  # and the clusteroperator YAML, which nothing reads
    assert not unpacked & set(junk)
    assert {"bundle.json", "etcd_info/member_list.json", "etcd_info/metrics.openmetrics.gz"} <= unpacked
    from_archive = json.loads(_analysis_json(archive, tmp_path / "b"))
    with open_bundle(archive) as opened:
        assert load_bundle(opened, "mg").skipped == opened.skipped >= len(junk)
    for a in (etcd_only, from_archive):
        a["bundle"].pop("path")
        a["bundle"].pop("format")
    assert from_archive == etcd_only


def _analysis_json(bundle: Path, out: Path) -> str:
    with contextlib.suppress(SystemExit):  # exits 0/1/2 by severity
        main(["analyze", str(bundle), "--duration", "all", "--format", "json", "--output", str(out)])
    return (out / "analysis.json").read_text()
