"""How a report says since when: ``fmt_span`` over any two times."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.analyze.units import fmt_span

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(times, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)), zones)
def test_a_span_names_its_first_second_and_its_last_in_utc_with_a_date_for_each_day(first, length, zone):
    last = first + length
    text = fmt_span(first.astimezone(zone), last.astimezone(zone))  # any zone in, UTC out
    assert text.endswith(" UTC") and f"{first:%Y-%m-%d %H:%M:%S}" in text and f"{last:%H:%M:%S}" in text
    if first.replace(microsecond=0) == last.replace(microsecond=0):
        assert text == f"at {first:%Y-%m-%d %H:%M:%S} UTC"
    elif first.date() == last.date():
        assert text == f"{first:%Y-%m-%d %H:%M:%S}-{last:%H:%M:%S} UTC"  # one date: the day is read once
    else:
        assert text == f"{first:%Y-%m-%d %H:%M:%S} - {last:%Y-%m-%d %H:%M:%S} UTC"


def test_the_sample_headline_says_since_when_each_disk_was_slow():
    from tests.test_lab_bundles import SAMPLE, analyse

    headline = analyse(SAMPLE)["summary"]["headline"]
    assert "(slowest 4.61 s, 2026-11-26 11:46:06-11:46:18 UTC)" in headline
    assert "(slowest 5.63 s, 2026-11-26 11:46:30-11:46:38 UTC)" in headline


def test_the_sample_findings_say_since_when_too():
    from tests.test_lab_bundles import SAMPLE, analyse

    said = {(f["id"], f["member"]): f["message"] for f in analyse(SAMPLE)["findings"]}
    assert "(slowest 4.61 s, 2026-11-26 11:46:06-11:46:18 UTC)" in said[("wal_fsync_logged", "master-0")]
    assert "over the limit, at 2026-11-26 11:46:46 UTC)" in said[("heartbeat_failures", "master-0")]
    assert ", slowest 7 s, 2026-11-26 11:46:10-11:46:18 UTC)" in said[("slow_applies", "master-0")]
