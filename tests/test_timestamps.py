"""Timestamps of every zap release, the kubelet and CRI-O prefixes, capnslog and raft's logger."""

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd_perf.gather.timestamps import capnslog_ts, iso_ts, raft_stdlib_ts


def parse(fn, text):
    return pl.DataFrame({"t": [text]}, schema={"t": pl.String}).select(fn(pl.col("t")).alias("ts"))["ts"][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-09-16T05:38:00.588Z", datetime(2021, 9, 16, 5, 38, 0, 588000, UTC)),  # 3.4, ms
        ("2021-01-07T12:16:46.416+0800", datetime(2021, 1, 7, 4, 16, 46, 416000, UTC)),  # offset without colon
        ("2025-10-05T18:42:01.33785Z", datetime(2025, 10, 5, 18, 42, 1, 337850, UTC)),  # trimmed zeros
        ("2024-01-31T16:54:41.675186+0800", datetime(2024, 1, 31, 8, 54, 41, 675186, UTC)),
        ("2022-07-04T06:35:26.512448489Z", datetime(2022, 7, 4, 6, 35, 26, 512448, UTC)),  # kubelet, ns
        ("2023-08-18T18:38:58.167282393+08:00", datetime(2023, 8, 18, 10, 38, 58, 167282, UTC)),  # CRI-O
        ("2021-09-16T05:38:00Z", datetime(2021, 9, 16, 5, 38, 0, tzinfo=UTC)),
    ],
)
def test_iso_timestamps_of_every_release(text, expected):
    assert parse(iso_ts, text) == expected


@pytest.mark.parametrize("text", ["06:22:52.217828-0700", "", "yesterday", "1531181998.771561"])
def test_unparsable_timestamps_are_null(text):
    assert parse(iso_ts, text) is None


def test_capnslog_and_raft_stdlib_times_are_read_as_utc():
    assert parse(capnslog_ts, "2018-10-25 16:20:35.185438") == datetime(2018, 10, 25, 16, 20, 35, 185438, UTC)
    assert parse(raft_stdlib_ts, "2022/03/19 02:50:20") == datetime(2022, 3, 19, 2, 50, 20, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(0, 6))
def test_zap_ts_round_trips_at_any_precision(dt, digits):
    dt = dt.replace(microsecond=(dt.microsecond // 10 ** (6 - digits)) * 10 ** (6 - digits))
    frac = f".{dt.microsecond:06d}"[: digits + 1] if digits else ""
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    assert parse(iso_ts, text) == dt.replace(tzinfo=UTC)
