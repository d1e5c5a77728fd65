"""``--thresholds FILE``: a site's own numbers for any rule, and a one-line error for anything else."""

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.rules import OVERRIDABLE, apply_overrides, default_rules
from etcd_perf.gather.errors import BundleError

RULES = default_rules()
RULE_IDS = sorted(r.id for r in RULES)
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def overrides(tmp_path, data) -> tuple:
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(data))
    return apply_overrides(RULES, path)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        ANY_VALUE,
        st.dictionaries(
            st.one_of(st.sampled_from(RULE_IDS), st.text(max_size=8)),
            st.one_of(ANY_VALUE, st.dictionaries(st.sampled_from(OVERRIDABLE), ANY_VALUE, max_size=3)),
            max_size=3,
        ),
    )
)
def test_any_thresholds_file_gives_rules_or_a_one_line_error(tmp_path_factory, data):
    try:
        rules = overrides(tmp_path_factory.mktemp("t"), data)
    except BundleError as exc:
        assert "\n" not in str(exc)
        return
    assert [r.id for r in rules] == [r.id for r in RULES]
    for r in rules:
        assert isinstance(r.enabled, bool) and r.op in (">", ">=")
        for t in (r.info, r.warning, r.critical):
            assert t is None or (isinstance(t, (int, float)) and not math.isnan(t))


def test_a_quoted_false_does_not_leave_a_rule_enabled(tmp_path):
    # bool("false") is True: a quoted value must be refused, not read as "on"
    with pytest.raises(BundleError, match="enabled must be true or false"):
        overrides(tmp_path, {RULE_IDS[0]: {"enabled": "false"}})
    (rule,) = [r for r in overrides(tmp_path, {RULE_IDS[0]: {"enabled": False}}) if r.id == RULE_IDS[0]]
    assert rule.enabled is False


def test_a_nan_threshold_is_refused_not_silently_never_breached(tmp_path):
    with pytest.raises(BundleError, match="expected a number"):
        overrides(tmp_path, {RULE_IDS[0]: {"warning": float("nan")}})


LIMIT = st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False))


@given(LIMIT, LIMIT, LIMIT, LIMIT)
def test_the_diagnosis_judges_by_the_thresholds_in_force_even_nulled(tmp_path_factory, rtt_w, rtt_c, wal_w, wal_c):
    from etcd_perf.analyze.diagnosis import Limits

    path = tmp_path_factory.mktemp("t") / "thresholds.yaml"
    rtt, wal = {"warning": rtt_w, "critical": rtt_c}, {"warning": wal_w, "critical": wal_c}
    path.write_text(yaml.safe_dump({"peer_rtt_p99": rtt, "wal_fsync_p99": wal}))
    limits = Limits.of(apply_overrides(RULES, path))
    assert limits.peer_rtt_p99_ms == next(v for v in (rtt_w, rtt_c, 50) if v is not None)
    assert limits.wal_fsync_p99_ms == next(v for v in (wal_w, wal_c, 10) if v is not None)


def test_a_raised_peer_round_trip_threshold_moves_the_finding_and_the_cause_together(tmp_path):
    from etcd_perf.analyze.model import build_analysis
    from etcd_perf.analyze.window import bundle_window
    from etcd_perf.gather.archive import open_bundle
    from etcd_perf.gather.bundle import load_bundle
    from tests.factory import SAMPLE

    with open_bundle(SAMPLE) as opened:
        bundle = load_bundle(opened, "sample")
    window = bundle_window(bundle, "all")

    def round_trips_cited(rules) -> tuple[bool, bool]:
        a = build_analysis(bundle, window, rules)
        finding = any(f["id"] == "peer_rtt_p99" and f["severity"] != "info" for f in a["findings"])
        cause = any("round-trip p99" in e for h in a["diagnosis"]["hypotheses"] for e in h["evidence"])
        return finding, cause

    assert round_trips_cited(RULES) == (True, True)  # 406 ms to the killed member, against 50 ms
    assert round_trips_cited(overrides(tmp_path, {"peer_rtt_p99": {"warning": 500, "critical": 900}})) == (False, False)
