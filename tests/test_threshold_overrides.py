"""``--thresholds FILE``: a site's own numbers for any rule, and a one-line error for anything else."""

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from analyze.rules import OVERRIDABLE, apply_overrides, default_rules
from gather.errors import BundleError

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
