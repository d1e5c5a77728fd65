"""An archive's logs parse while the rest of it unpacks; the analysis must be the one it would be without."""

import io
import tarfile
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import Prefetch, load_bundle
from etcd_perf.gather.layout import discover, log_kind_of
from tests import real_lines as R
from tests.factory import LAB_34, SHARED_LAB_35, make_must_gather


def _pack(root: Path, archive: Path, extra: list[tuple[str, bytes]] = ()) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(root).as_posix())
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


class EagerPrefetch(Prefetch):
    """Each parse finishes before unpacking goes on: the worst case for a file unpacked again later."""

    def offer(self, rel, path, scratch):
        super().offer(rel, path, scratch)
        job = self._jobs.get(rel)
        if job is not None:
            job[1].result()


def _load(archive: Path, prefetched: bool, eager: bool = False, **caps):
    if not prefetched:
        with open_bundle(archive, **caps) as opened:
            return load_bundle(opened, "bundle"), None
    with (
        (EagerPrefetch if eager else Prefetch)() as prefetch,
        open_bundle(archive, on_file=prefetch.offer, **caps) as opened,
    ):
        bundle = load_bundle(opened, "bundle", prefetch=prefetch)
        return bundle, prefetch


def _same(a, b) -> None:
    assert sorted(a.kind_events) == sorted(b.kind_events)
    for kind in a.kind_events:
        assert_frame_equal(a.kind_events[kind], b.kind_events[kind])
    assert [(f.file, f.stats, f.problems) for f in a.log_files] == [(f.file, f.stats, f.problems) for f in b.log_files]
    assert a.problems == b.problems and a.damaged == b.damaged


@pytest.mark.parametrize("lab", [LAB_34, SHARED_LAB_35], ids=lambda p: p.name)
def test_a_lab_archive_gives_the_same_events_with_and_without_prefetch(lab, tmp_path):
    archive = _pack(lab, tmp_path / "bundle.tar.gz")
    plain, _ = _load(archive, prefetched=False)
    early, prefetch = _load(archive, prefetched=True)
    _same(plain, early)
    assert prefetch._started == len(plain.log_files)  # every log was parsed during the unpacking


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "second-copy-cut-short"])
def test_a_log_unpacked_twice_is_read_as_its_last_copy(tmp_path, cut):
    # tar keeps both members and the later one wins on disk: the earlier copy's parse must not be used,
    # even when the later copy is cut short by the byte cap and so never offered whole
    make_must_gather(tmp_path / "mg", {"m0": {"current": [R.ZAP34_APPLY]}}, wrapper=False)
    rel = "namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/current.log"
    later = ("\n".join([R.ZAP34_HEARTBEAT] * 100) + "\n").encode()
    archive = _pack(tmp_path / "mg", tmp_path / "b.tar.gz", extra=[(rel, later)])
    caps = {"max_bytes": len(R.ZAP34_APPLY) + 1 + len(later) // 2} if cut else {}
    plain, _ = _load(archive, prefetched=False, **caps)
    early, _ = _load(archive, prefetched=True, eager=True, **caps)
    _same(plain, early)
    assert set(early.events["kind"].to_list()) == {"heartbeat_slow"}


def test_a_log_unpacked_twice_is_read_by_the_last_copy_s_cleaning(tmp_path):
    # the earlier copy had a long run of empty lines dropped as it was unpacked, the later one none: the
    # earlier copy's record of its cleaning must not renumber the later copy's lines
    rel = "namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/current.log"
    earlier = ("\n" * 500 + R.ZAP34_APPLY + "\n").encode()
    later = ("\n".join([R.ZAP34_HEARTBEAT] * 3) + "\n").encode()
    make_must_gather(tmp_path / "mg", {"m1": {"current": [R.ZAP34_APPLY]}}, wrapper=False)
    archive = _pack(tmp_path / "mg", tmp_path / "b.tar.gz", extra=[(rel, earlier), (rel, later)])
    for prefetched in (False, True):
        bundle, _ = _load(archive, prefetched=prefetched)
        beats = bundle.of("heartbeat_slow", columns=["file", "line"])
        assert beats["line"].to_list() == [1, 2, 3], prefetched
        assert bundle.excerpts(beats)["excerpt"].str.contains("heartbeat").all()


def test_a_log_cut_short_by_the_byte_cap_is_not_taken_from_the_prefetch(tmp_path):
    lines = [R.ZAP34_APPLY] * 200
    make_must_gather(tmp_path / "mg", {"m0": {"current": lines}, "m1": {"current": lines}}, wrapper=False)
    archive = _pack(tmp_path / "mg", tmp_path / "b.tar.gz")
    size = len(("\n".join(lines) + "\n").encode())
    caps = {"max_bytes": size + size // 2}  # the second log stops halfway
    plain, _ = _load(archive, prefetched=False, **caps)
    early, _ = _load(archive, prefetched=True, **caps)
    _same(plain, early)
    assert early.damaged


@pytest.mark.parametrize("lab", [LAB_34, SHARED_LAB_35], ids=lambda p: p.name)
def test_the_prefetch_recognises_exactly_the_logs_the_layout_takes(lab):
    layout = discover(lab)
    refs = [ref for pod in layout.pods for ref in pod.logs]
    assert refs and all(log_kind_of(ref.rel) == ref.kind for ref in refs)
    others = [p.relative_to(lab).as_posix() for p in lab.rglob("*") if p.is_file()]
    taken = {ref.rel for ref in refs}
    assert not [rel for rel in others if rel not in taken and log_kind_of(rel) is not None]


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("a/namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/current.log", "current"),
        ("namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/previous.insecure.log", "previous"),
        ("namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/rotated/0.log.20240513-102133.gz", "rotated"),
        ("namespaces/openshift-etcd/pods/etcd-guard-m0/etcd/etcd/logs/current.log", None),
        ("namespaces/openshift-etcd/pods/etcd-m0/etcd/etcd/logs/current.log.bak", None),
        ("namespaces/openshift-etcd/pods/etcd-m0/etcdctl/etcdctl/logs/current.log", None),
    ],
)
def test_log_paths_are_recognised_by_shape(rel, kind):
    assert log_kind_of(rel) == kind
