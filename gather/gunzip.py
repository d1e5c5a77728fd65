"""gzip at isal's speed where its wheel is installed, zlib's otherwise.

A must-gather is a .tar.gz and a Prometheus dump may be gzipped (``metrics.openmetrics.gz``): unpacking is
one core's work before or beside the parse. python-isal (Intel's ISA-L, wheels for every platform we ship
to) unpacks the same bytes about three times as fast as zlib (BENCHMARKS.md); its API is zlib's and gzip's.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO, Any

try:
    from isal import igzip as _gzip
    from isal import isal_zlib as _zlib

    ERRORS: tuple[type[Exception], ...] = (zlib.error, _zlib.error)
except ImportError:  # no wheel for this platform: the standard library's
    _gzip, _zlib = gzip, zlib  # type: ignore[assignment]
    ERRORS = (zlib.error,)

GZIP_MAGIC = b"\x1f\x8b"


def decompressobj() -> Any:
    """A decompressor of one gzip member (``unused_data`` holds what follows it)."""
    return _zlib.decompressobj(16 + zlib.MAX_WBITS)


def open_gzip(path: Path) -> IO[bytes]:
    """The gzip file's text, as a seekable binary file (tarfile's random-access mode reads it)."""
    return _gzip.open(path, "rb")


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC
