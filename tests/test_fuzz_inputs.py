"""Hypothesis fuzzing of the input readers not fuzzed beside their own tests: etcd_info JSON and pod
YAML of any shape, and archives truncated or with flipped bytes. No exception escapes; an archive either reads
(what was readable, flagged damaged) or is refused with the one error a user can act on."""

import io
import json
import tarfile
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import Prefetch, load_bundle
from etcd_perf.gather.errors import BundleError
from etcd_perf.gather.etcd_info import read_etcd_info
from etcd_perf.gather.podspec import read_pod_list, read_pod_spec
from tests import real_lines as R
from tests.factory import make_must_gather
from tests.test_etcd_info import MEMBER_LIST

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
ETCD_INFO_FILES = ("member_list.json", "endpoint_status.json", "endpoint_health.json", "alarm_list.json")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ETCD_INFO_FILES), json_values)
def test_etcd_info_of_any_json_shape_reads_without_error(name, value):
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / name).write_text(json.dumps(value, allow_nan=True))
        info = read_etcd_info(Path(d))
    assert info.files[name] in ("ok", "empty", "invalid", "unexpected") or info.files[name]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ETCD_INFO_FILES), st.binary(max_size=300))
def test_etcd_info_of_any_bytes_reads_without_error(name, data):
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / name).write_bytes(data)
        read_etcd_info(Path(d))


# a pod with any value at the places the reader looks into
POD_PATHS = [
    (),
    ("metadata",),
    ("metadata", "name"),
    ("spec",),
    ("spec", "nodeName"),
    ("spec", "containers"),
    ("spec", "containers", 0, "env"),
    ("spec", "containers", 0, "env", 0),
    ("status",),
    ("status", "containerStatuses"),
    ("status", "containerStatuses", 0, "restartCount"),
    ("status", "containerStatuses", 0, "lastState"),
    ("status", "containerStatuses", 0, "lastState", "terminated"),
]


def _pod_with(path: tuple, value: object) -> object:
    pod = {
        "metadata": {"name": "etcd-master-0"},
        "spec": {
            "nodeName": "master-0",
            "containers": [{"name": "etcd", "env": [{"name": "ETCD_QUOTA_BACKEND_BYTES", "value": "8589934592"}]}],
        },
        "status": {
            "containerStatuses": [{"name": "etcd", "restartCount": 2, "lastState": {"terminated": {"exitCode": 1}}}]
        },
    }
    if not path:
        return value
    node = pod
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return pod


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(POD_PATHS), json_values, st.booleans())
def test_pod_yaml_of_any_shape_reads_without_error(path, value, as_list):
    obj = _pod_with(path, value)
    with tempfile.TemporaryDirectory() as d:
        file = Path(d) / "pod.yaml"
        # JSON is YAML; a PodList holds the pod under items
        file.write_text(json.dumps({"kind": "PodList", "items": [obj]} if as_list else obj, allow_nan=True))
        pods = read_pod_list(file) if as_list else {}
        spec, _ = (None, None) if as_list else read_pod_spec(file)
    for pod in [*pods.values(), spec]:
        assert pod is None or (isinstance(pod.name, str) and all(isinstance(v, str) for v in pod.env.values()))


MANIFEST_PATHS = [(), ("collected_at",), ("commands",), ("commands", 0), ("commands", 0, "command"), ("cluster",)]
TIMESTAMP_TEXT = st.one_of(
    st.text(max_size=60),
    st.builds(
        "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}.{} {}{:04d} UTC m=+0.1".format,
        st.integers(0, 9999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 10**9),
        st.sampled_from("+-"),
        st.integers(0, 9999),
    ),
)
ISO_TEXT = st.datetimes(timezones=st.none() | st.timezones()).map(lambda t: t.isoformat())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MANIFEST_PATHS), st.one_of(json_values, ISO_TEXT), TIMESTAMP_TEXT)
def test_collect_manifest_and_must_gather_timestamp_of_any_content_read_without_error(path, value, stamp):
    manifest: object = {"collected_at": "2024-05-13T10:25:00Z", "commands": [{"command": ["oc"], "exit_status": 1}]}
    if path:
        node = manifest
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    else:
        manifest = value
    with tempfile.TemporaryDirectory() as d:
        root = make_must_gather(Path(d), {"master-0": {"current": [R.ZAP34_APPLY]}}, wrapper=False, timestamp=stamp)
        (root / "bundle.json").write_text(json.dumps(manifest, allow_nan=True))
        with open_bundle(root) as opened:
            bundle = load_bundle(opened, "fuzz")
    assert bundle.collected_at is None or bundle.collected_at.utcoffset().total_seconds() == 0


def _archive(kind: str) -> bytes:
    log = ("\n".join([R.ZAP34_APPLY, R.ZAP34_ELECTION, R.ZAP34_HEARTBEAT] * 30) + "\n").encode()
    files = {
        "mg/namespaces/openshift-etcd/pods/etcd-master-0/etcd/etcd/logs/current.log": log,
        "mg/etcd_info/member_list.json": MEMBER_LIST.encode(),
    }
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(fileobj=buf, mode={"tar.gz": "w:gz", "tar.xz": "w:xz", "tar": "w"}[kind]) as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVES = {kind: _archive(kind) for kind in ("tar.gz", "tar.xz", "tar", "zip")}


# an archive kind, the share of it kept (a truncation), and bytes overwritten at relative positions
DAMAGE = (
    st.sampled_from(sorted(ARCHIVES)),
    st.floats(0.0, 1.0),
    st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 255)), max_size=4),
)


def _damaged(directory: str, kind: str, keep: float, flips: list[tuple[float, int]]) -> Path:
    data = bytearray(ARCHIVES[kind][: int(len(ARCHIVES[kind]) * keep)])
    for where, byte in flips:
        if data:
            data[int(where * len(data))] = byte
    path = Path(directory) / f"bundle.{kind}"
    path.write_bytes(bytes(data))
    return path


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*DAMAGE)
def test_damaged_archives_never_raise_anything_but_a_bundle_error(kind, keep, flips):
    with tempfile.TemporaryDirectory() as d:
        path = _damaged(d, kind, keep, flips)
        try:
            with open_bundle(path) as opened:
                bundle = load_bundle(opened, path.name)
        except BundleError:
            return
        assert bundle.damaged or bundle.events.height >= 0


def _loaded(path: Path, prefetched: bool):
    """(kind -> events, per-file stats and problems, bundle problems), or the BundleError's text."""
    try:
        if prefetched:
            with Prefetch() as prefetch, open_bundle(path, on_file=prefetch.offer) as opened:
                bundle = load_bundle(opened, path.name, prefetch=prefetch)
        else:
            with open_bundle(path) as opened:
                bundle = load_bundle(opened, path.name)
    except BundleError as exc:
        return str(exc)
    events = {kind: frame.to_dicts() for kind, frame in bundle.kind_events.items()}
    return events, [(f.file, f.stats, f.problems) for f in bundle.log_files], bundle.problems, bundle.damaged


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*DAMAGE)
def test_damaged_archives_read_the_same_whether_logs_parse_while_unpacking_or_after(kind, keep, flips):
    with tempfile.TemporaryDirectory() as d:
        path = _damaged(d, kind, keep, flips)
        assert _loaded(path, prefetched=True) == _loaded(path, prefetched=False)
