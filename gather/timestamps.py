"""Timestamps of every format etcd and the kubelet write, to UTC ``Datetime(us)`` expressions.

Zap's ``ts`` varies by release (milliseconds, trimmed or fixed microseconds, ``Z`` or ``+0800``);
the kubelet prefix is RFC3339Nano; CRI-O files use ``+00:00``; capnslog and the raft stdlib
logger carry no zone at all and are read as UTC, which is what OpenShift nodes run in.
"""

from __future__ import annotations

import polars as pl

DT = pl.Datetime("us", "UTC")


def iso_ts(expr: pl.Expr) -> pl.Expr:
    """RFC3339 / zap ``ts`` text (any fraction, ``Z``, ``+0800`` or ``+08:00``) to UTC; else null."""
    normalised = expr.str.replace(r"Z$", "+0000").str.replace(r"([+-]\d\d):(\d\d)$", "${1}${2}")
    return normalised.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")


def capnslog_ts(expr: pl.Expr) -> pl.Expr:
    """``2006-01-02 15:04:05.000000`` (no zone: taken as UTC) to UTC; else null."""
    return expr.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC")


def raft_stdlib_ts(expr: pl.Expr) -> pl.Expr:
    """``2022/03/19 02:50:20`` from raft's stdlib logger (1 s precision, no zone) to UTC; else null."""
    return expr.str.to_datetime("%Y/%m/%d %H:%M:%S", strict=False, time_unit="us").dt.replace_time_zone("UTC")
