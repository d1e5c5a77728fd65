"""Our own copies of a bundle's logs kept out of the page cache.

An archive's logs are unpacked to a private directory, parsed once, and a few of their lines read back for
the report; a compressed log is decompressed there too. The kernel keeps every page written or read in its
cache until memory is wanted elsewhere, so a 1 GiB archive filled 1 GiB of cache with bytes read once,
pushing out what the user's other work had cached. And a fresh page is not free: on a VM whose balloon
device reports freed memory to its host (ours does), each costs a fault in the host. Writing 1 GiB to a new
file took 5.5 to 7.8 s of system CPU there, against 0.25 to 0.35 s with the pages behind the writes dropped
a few MB at a time and reused (BENCHMARKS.md, session 17).

So those copies are written and read with the pages behind the current position dropped
(``posix_fadvise(DONTNEED)``): the cache holds a window of them, whatever their size. Dropping a page
never loses data (a dirty page is written back first, or kept). The price is that the parse reads a copy
back from the disk rather than from memory: 1 GiB took 0.6 s here, in the parse's threads, beside a
parse of 7 s that keeps both cores busy. The bundle's own files (a directory the user gave) are never
touched, and nothing changes where ``posix_fadvise`` does not exist.
"""

from __future__ import annotations

import contextlib
import os
from typing import BinaryIO

# bytes written between two drops: small against memory, big against the cost of a call
DROP_WINDOW = 8 << 20
_ADVISE = getattr(os, "posix_fadvise", None)


def forget(fd: int, offset: int, length: int) -> None:
    """Drop the clean cached pages of ``length`` bytes from ``offset`` of the open file ``fd`` (0: to its
    end), and start writing back its dirty ones. Advice only: any failure leaves the cache as it was."""
    if _ADVISE is None:
        return
    with contextlib.suppress(OSError):
        _ADVISE(fd, offset, length, os.POSIX_FADV_DONTNEED)


class DroppingWriter:
    """A binary file written with its pages dropped from the cache behind the writes.

    Each DROP_WINDOW bytes, the advice covers the window just written and the one before it: the newest
    window's pages are dirty, so the advice starts their writeback and keeps them; by the next call they
    are clean and go. The kernel then hands the same few pages to the next writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._fd = out.fileno()
        self._written = 0
        self._mark = 0  # where the newest window starts
        self._previous = 0  # where the window before it starts

    def write(self, data: bytes | memoryview) -> int:
        written = self._out.write(data)
        self._written += len(data)
        if self._written - self._mark >= DROP_WINDOW:
            self._out.flush()
            forget(self._fd, self._previous, self._written - self._previous)
            self._previous, self._mark = self._mark, self._written
        return written

    def finish(self) -> None:
        """Flush, and drop whatever of the file is clean by now. The last window or two, still being written
        back, stay cached like any written file until memory is wanted: some 16 MB a copy at most."""
        self._out.flush()
        forget(self._fd, 0, 0)
