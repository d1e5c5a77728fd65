"""A progress line on stderr for long analyses: on a terminal only, never in a pipe or a JSON run.

A support engineer watching a gigabyte bundle should see that work goes on; a script reading stdout
or a CI log must get nothing but the report, so the line is drawn only where stderr is a TTY.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 24
MIN_INTERVAL_S = 0.1


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    @classmethod
    def for_terminal(cls, quiet: bool) -> Progress:
        stream = sys.stderr
        return cls(enabled=not quiet and stream.isatty(), stream=stream)

    def _draw(self, text: str) -> None:
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self._drawn = True

    def bytes(self, done: int, total: int) -> None:
        """Log bytes parsed so far, out of the bundle's total."""
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < MIN_INTERVAL_S:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * BAR)
        self._draw(
            f"etcd-perf: parsing logs [{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%} "
            f"{done / 2**20:,.0f}/{total / 2**20:,.0f} MiB"
        )

    def phase(self, name: str) -> None:
        if self.enabled:
            self._draw(f"etcd-perf: {name}...")

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
