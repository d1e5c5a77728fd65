"""The analysis window: ``--duration`` minutes ending at the bundle's collection time.

Never the wall clock: an archived bundle analysed next year must give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from etcd_perf.gather.bundle import Bundle
from etcd_perf.gather.errors import BundleError


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None
    label: str

    @property
    def minutes(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return round((self.end - self.start).total_seconds() / 60.0, 3)


def parse_time(text: str, option: str) -> datetime:
    """ISO 8601 (``2024-05-13T10:21:33Z``, with or without zone, or a date with a space)."""
    value = text.strip().replace(" ", "T", 1)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError as exc:
        raise BundleError(f"{option} {text!r}: not an ISO 8601 time such as 2024-05-13T10:21:33Z") from exc
    except OverflowError as exc:  # a zone offset that moves the time past year 1 or 9999
        raise BundleError(f"{option} {text!r}: out of the range of dates") from exc


def parse_duration_option(text: str) -> float | None:
    """Minutes from ``--duration`` (a positive number), or None for ``all``."""
    if text.strip().lower() == "all":
        return None
    try:
        minutes = float(text)
    except ValueError as exc:
        raise BundleError(f"--duration {text!r}: expected a number of minutes or 'all'") from exc
    if not minutes > 0 or minutes != minutes or minutes == float("inf"):
        raise BundleError(f"--duration {text!r}: must be a positive number of minutes")
    return minutes


def resolve_window(
    collected_at: datetime | None,
    first_log: datetime | None,
    duration: str,
    since: str | None,
    until: str | None,
    last_log: datetime | None = None,
) -> Window:
    minutes = parse_duration_option(duration)
    end = parse_time(until, "--until") if until else collected_at
    if minutes is None and not until and not since:
        # "all" means every log line, even lines stamped after a collection time taken early
        known = [t for t in (collected_at, last_log) if t is not None]
        end = max(known) if known else None
    if since:
        start = parse_time(since, "--since")
        label = "from --since"
    elif minutes is None:
        start = first_log
        label = "all logs"
    elif end is not None:
        try:
            start = end - timedelta(minutes=minutes)
        except OverflowError:  # longer than the calendar: every log line is in it
            start = datetime.min.replace(tzinfo=UTC)
        label = f"last {minutes:g} min before {'--until' if until else 'collection'}"
    else:
        start = None
        label = "all logs (no collection time)"
    if start is not None and end is not None and start > end:
        raise BundleError(f"the window starts ({start.isoformat()}) after it ends ({end.isoformat()})")
    return Window(start=start, end=end, label=label)


def bundle_window(bundle: Bundle, duration: str = "15", since: str | None = None, until: str | None = None) -> Window:
    """The window for a loaded bundle: its collection time and its logs' span."""
    first, last = bundle.log_span
    return resolve_window(bundle.collected_at, first, duration, since, until, last)
