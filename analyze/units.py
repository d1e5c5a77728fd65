"""How numbers are shown: milliseconds past a second in seconds, bytes in binary units.

One place, so that the text, markdown and HTML reports and the findings' messages agree.
"""

from __future__ import annotations

from datetime import UTC, datetime


def unit_of(signal: str) -> str:
    if signal.endswith("_ms"):
        return "ms"
    if signal.endswith("_bytes"):
        return "bytes"
    if signal.endswith("_pct"):
        return "pct"
    return "count"


def fmt_ms(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.3g} s" if abs(value) < 10_000 else f"{value / 1000:.1f} s"
    if abs(value) >= 10:
        return f"{value:.0f} ms"
    return f"{value:.3g} ms"


def fmt_bytes(value: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v = float(value)
    for unit in units:
        if abs(v) < 1024 or unit == units[-1]:
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{value} B"


def fmt_value(value: object, unit: str) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "ms":
        return fmt_ms(float(value))
    if unit == "bytes":
        return fmt_bytes(float(value))
    if unit == "pct":
        return f"{float(value):.1f} %"
    if unit == "per hour":  # a logged count over the hours of log that held it
        return f"{float(value):.3g}/h" if value else "0/h"
    if unit == "bool":
        return "yes" if value else "no"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return f"{int(value)}" if isinstance(value, (int, float)) else str(value)


def fmt_cell(value: object, unit: str) -> str:
    """A table cell or a comparison's side: ``-`` where there is no value (the row says why)."""
    return "-" if value is None else fmt_value(value, unit)


def fmt_span(first: datetime, last: datetime) -> str:
    """When something was seen, to the second in UTC: "at <t>", or "<day> <from>-<to>" (dates on both
    ends when it crosses midnight)."""
    a, b = first.astimezone(UTC), last.astimezone(UTC)
    if a.replace(microsecond=0) == b.replace(microsecond=0):
        return f"at {a:%Y-%m-%d %H:%M:%S} UTC"
    if a.date() == b.date():
        return f"{a:%Y-%m-%d %H:%M:%S}-{b:%H:%M:%S} UTC"
    return f"{a:%Y-%m-%d %H:%M:%S} - {b:%Y-%m-%d %H:%M:%S} UTC"
