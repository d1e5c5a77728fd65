"""Any mixture of real etcd lines, in any of the files and prefixes a must-gather has, goes through the
whole pipeline (bundle, window, analysis, every report, redaction) without an error, and twice to the
same bytes. Real lines only: every constant of ``real_lines`` and a sample of every lab log kept here."""

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.model import build_analysis
from etcd_perf.analyze.outputs import detail_areas, detail_rows, render_all
from etcd_perf.analyze.redact import Redactor
from etcd_perf.analyze.rules import default_rules
from etcd_perf.analyze.window import bundle_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from tests import real_lines as R
from tests.factory import make_must_gather

DATA = Path(__file__).parent / "data"
KUBELET_TIME = 31  # "2026-11-26T10:47:48.215000000Z "


def _pool() -> list[str]:
    lines = [v for k, v in vars(R).items() if k.isupper() and isinstance(v, str)] + list(R.PREAMBLE)
    rnd = random.Random(7)
    for log in sorted(DATA.glob("*/namespaces/openshift-etcd/pods/*/etcd/etcd/logs/*.log")):
        text = log.read_text(errors="replace").splitlines()
        lines += [line[KUBELET_TIME:] if line[:4].isdigit() else line for line in rnd.sample(text, min(40, len(text)))]
    return lines


POOL = _pool()
ETCD_INFO = {p.name: p.read_text() for p in (DATA / "shared-lab-3.5.16" / "etcd_info").glob("*.json")}
FILES = ["current", "previous", "rotated/0.log.20240513-090000"]
START = datetime(2024, 5, 13, 10, 0, tzinfo=UTC)


@st.composite
def bundles(draw):
    logs: dict[str, dict[str, list[str]]] = {}
    for member in draw(
        st.lists(st.sampled_from(["master-0", "master-1", "master-2"]), min_size=1, max_size=3, unique=True)
    ):
        files = {}
        for name in draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=3, unique=True)):
            picked = draw(st.lists(st.sampled_from(POOL), max_size=25))
            offsets = draw(st.lists(st.integers(0, 3_600_000), min_size=len(picked), max_size=len(picked)))
            if draw(st.booleans()):
                offsets.sort()  # else time goes back and forth, as in a damaged file
            prefix = draw(st.sampled_from(["%Y-%m-%dT%H:%M:%S.%f000Z ", "%Y-%m-%dT%H:%M:%S.%f000+00:00 stderr F ", ""]))
            files[name] = [
                (START + timedelta(milliseconds=o)).strftime(prefix) + line
                for line, o in zip(picked, offsets, strict=True)
            ]
        if len(files) > 1 and draw(st.booleans()):  # one file repeats part of another, as rotations overlap
            first, second = sorted(files)[:2]
            files[first] += files[second][: len(files[second]) // 2]
        logs[member] = files
    return logs, draw(st.sampled_from([None, ETCD_INFO])), draw(st.sampled_from(["all", "15"])), draw(st.booleans())


def reports_of(root: Path, duration: str, redact: bool) -> dict[str, bytes]:
    with open_bundle(root) as opened:
        bundle = load_bundle(opened, "fuzz")
    window = bundle_window(bundle, duration)
    areas = detail_areas(bundle, window)
    analysis = build_analysis(bundle, window, default_rules(), quote_also=detail_rows(areas))
    redactor = Redactor.for_bundle(bundle) if redact else None
    if redactor is not None:
        analysis = redactor.analysis(analysis)
    return render_all(bundle, window, analysis, True, redactor, areas)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bundles())
def test_any_mixture_of_real_lines_is_analysed_and_reported_the_same_twice(case):
    logs, etcd_info, duration, redact = case
    with tempfile.TemporaryDirectory() as d:
        root = make_must_gather(Path(d) / "mg", logs, etcd_info=etcd_info)
        first = reports_of(root, duration, redact)
        assert "analysis.json" in first and "performance_report.html" in first
        assert reports_of(root, duration, redact) == first
