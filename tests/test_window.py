"""The analysis window comes from the bundle, never the wall clock."""

from datetime import UTC, datetime, timedelta

import pytest

from analyze.window import resolve_window
from gather.errors import BundleError

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
