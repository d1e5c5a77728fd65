"""The analysis window comes from the bundle, never the wall clock."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd_perf.analyze import metric_measures
from etcd_perf.analyze.window import Window, resolve_window
from etcd_perf.gather.archive import open_bundle
from etcd_perf.gather.bundle import load_bundle
from etcd_perf.gather.errors import BundleError
from tests.factory import SAMPLE

COLLECTED = datetime(2024, 5, 13, 10, 25, tzinfo=UTC)
FIRST = datetime(2024, 5, 12, 0, 0, tzinfo=UTC)


def test_default_is_fifteen_minutes_before_collection():
    w = resolve_window(COLLECTED, FIRST, "15", None, None)
    assert (w.start, w.end, w.minutes) == (COLLECTED - timedelta(minutes=15), COLLECTED, 15.0)


def test_all_spans_the_logs():
    w = resolve_window(COLLECTED, FIRST, "all", None, None)
    assert (w.start, w.end) == (FIRST, COLLECTED)


def test_since_and_until_override():
    w = resolve_window(COLLECTED, FIRST, "15", "2024-05-13T09:00:00Z", "2024-05-13 10:00:00")
    assert w.start == datetime(2024, 5, 13, 9, tzinfo=UTC) and w.end == datetime(2024, 5, 13, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("duration", "since", "until"),
    [
        ("-5", None, None),
        ("soon", None, None),
        ("0", None, None),
        ("nan", None, None),
        ("15", "not a time", None),
        ("15", "2024-05-13T11:00:00Z", "2024-05-13T10:00:00Z"),
    ],
)
def test_bad_window_options_are_bundle_errors(duration, since, until):
    with pytest.raises(BundleError):
        resolve_window(COLLECTED, FIRST, duration, since, until)


def test_all_covers_log_lines_stamped_after_an_early_collection_time():
    last = COLLECTED + timedelta(seconds=3)
    w = resolve_window(COLLECTED, COLLECTED + timedelta(seconds=1), "all", None, None, last)
    assert (w.start, w.end) == (COLLECTED + timedelta(seconds=1), last)


def test_a_window_reaching_back_to_year_one_costs_what_the_metrics_span_costs():
    """Per-minute metric buckets start at the first sample, not at the window's start: a --since years
    back once listed every minute since then and exhausted the memory."""
    with open_bundle(SAMPLE) as opened:
        bundle = load_bundle(opened, "sample")
    end = bundle.collected_at
    span = metric_measures.compute(bundle.metrics, Window(end - timedelta(days=30), end, "a month"))
    ages = metric_measures.compute(bundle.metrics, Window(datetime.min.replace(tzinfo=UTC), end, "since year 1"))
    assert ages.minutes == span.minutes and span.minutes


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=12), st.floats().map(str), st.just("all")),
    st.one_of(st.none(), st.text(max_size=30), st.datetimes(timezones=st.timezones()).map(datetime.isoformat)),
    st.one_of(st.none(), st.text(max_size=30), st.datetimes(timezones=st.timezones()).map(datetime.isoformat)),
)
def test_any_window_options_give_a_window_or_a_bundle_error(duration, since, until):
    try:
        w = resolve_window(COLLECTED, FIRST, duration, since or None, until or None)
    except BundleError as exc:
        assert "\n" not in str(exc)
        return
    assert w.start is None or w.end is None or w.start <= w.end
