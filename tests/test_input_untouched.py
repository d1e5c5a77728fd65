"""The input bundle is never modified: every file's bytes and mtime are the same after an analysis,
for a directory and for an archive."""

import hashlib
import os
import shutil
import tarfile
from pathlib import Path

from etcd_perf.analyze.cli import main
from tests.factory import SAMPLE


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def analyse(path: Path, out: Path) -> int:
    try:
        main(["analyze", str(path), "--output", str(out), "--export-html", "--duration", "all"])
    except SystemExit as exc:
        return int(exc.code)
    return 0


def test_a_directory_bundle_is_left_exactly_as_it_was(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(SAMPLE, bundle)
    before = fingerprint(bundle)
    dirs_before = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*"))
    assert analyse(bundle, tmp_path / "out") == 2
    assert fingerprint(bundle) == before
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")) == dirs_before


def test_an_archive_is_left_exactly_as_it_was(tmp_path):
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(SAMPLE, arcname="must-gather.local.1")
    stat = archive.stat()
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    listing = sorted(os.listdir(tmp_path))
    assert analyse(archive, tmp_path / "out") == 2
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == digest
    assert archive.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(os.listdir(tmp_path)) == sorted([*listing, "out"])  # nothing unpacked beside it
