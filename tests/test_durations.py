"""Go duration strings: every form etcd prints, and the property that parsing inverts formatting."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.gather.durations import duration_ms


def ms(text: str | None) -> float | None:
    return pl.DataFrame({"d": [text]}, schema={"d": pl.String}).select(duration_ms(pl.col("d")).alias("ms"))["ms"][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("661ns", 0.000661),
        ("233.675µs", 0.233675),  # U+00B5, as Go prints it
        ("233.675μs", 0.233675),  # U+03BC, as other writers do
        ("10us", 0.01),
        ("4.101453ms", 4.101453),
        ("1.044022245s", 1044.022245),
        ("1m15.841622694s", 75841.622694),
        ("1h0m0s", 3_600_000.0),
        ("0s", 0.0),
        ("-1.5s", -1500.0),
        ("41ms", 41.0),  # never 41 minutes
        ("5m0s", 300_000.0),
    ],
)
def test_every_go_duration_form_parses_to_milliseconds(text, expected):
    assert ms(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text", ["", "junk", "1.2.3s", "ms", "10 ms", None, "1d"])
def test_non_durations_are_null_not_zero(text):
    assert ms(text) is None


def go_format(hours: int, minutes: int, nanos: int) -> str:
    """Go's time.Duration.String() for durations of a second or more."""
    seconds, frac = divmod(nanos, 1_000_000_000)
    sec = f"{seconds}" + (f".{frac:09d}".rstrip("0") if frac else "")
    if hours:
        return f"{hours}h{minutes}m{sec}s"
    if minutes:
        return f"{minutes}m{sec}s"
    return f"{sec}s"


@given(st.integers(0, 30), st.integers(0, 59), st.integers(0, 59_999_999_999))
def test_parsing_inverts_go_formatting_for_long_durations(hours, minutes, nanos):
    text = go_format(hours, minutes, nanos)
    expected = hours * 3_600_000 + minutes * 60_000 + nanos / 1e6
    assert ms(text) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@given(st.integers(1, 999_999), st.sampled_from(["ns", "µs", "ms"]))
def test_parsing_sub_second_units(value, unit):
    factor = {"ns": 1e-6, "µs": 1e-3, "ms": 1.0}[unit]
    whole, frac = divmod(value, 1000)
    text = f"{whole}.{frac:03d}{unit}" if whole else f"{value}{unit}"
    expected = (whole + frac / 1000) * factor if whole else value * factor
    assert ms(text) == pytest.approx(expected, rel=1e-12)


@given(st.text(max_size=40))
def test_any_text_gives_a_number_or_null_never_an_error(text):
    value = ms(text)
    assert value is None or isinstance(value, float)
