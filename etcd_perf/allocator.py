"""How etcd-perf's process gives freed memory back: what its peak resident memory is made of, past its data.

Two allocators serve a run. polars allocates through jemalloc, set up in ``etcd_perf/__init__.py`` (it must
be before polars loads). Python allocates through the C library's malloc: the bytes a log is read in,
32 MB at a time. glibc serves a block that big by ``mmap`` and unmaps it when freed, but then raises its
threshold for ``mmap`` to that size ("dynamic threshold"), so every later block below 32 MB comes from its
heaps, one per thread: a parse on three threads left some 100 MB there that was freed and never given back
(BENCHMARKS.md, session 15). A fixed threshold of 1 MiB keeps big blocks on ``mmap``, returned when freed,
at no cost in time measured on the parse. A fresh mapping does cost page faults, and on a VM that reports
freed pages to its host (virtio-balloon free page reporting, as on our CI machine) a fault on returned
memory costs far more: so work that streams bytes through Python (unpacking an archive) reuses blocks
below the threshold (``gather/archive.py`` ``UNPACK_BLOCK``; BENCHMARKS.md, session 16).

The process must be etcd-perf's own (the CLI, a fleet task): a library should not reset its host's malloc.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 1 << 20


def return_big_blocks() -> bool:
    """Fix glibc's ``mmap`` threshold at 1 MiB; whether it was set. Nothing happens off glibc, or when the
    user chose a threshold (``MALLOC_MMAP_THRESHOLD_``, read by glibc itself at start)."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl's mallopt is a stub)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
