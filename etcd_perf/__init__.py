"""etcd-perf: offline etcd performance analysis of OpenShift must-gathers and etcd-perf bundles.

The one import package the distribution installs. Its parts keep the repository's top-level folders
(pyproject's ``package-dir`` maps them here), so nothing named ``gather`` or ``analyze`` lands at the top
of site-packages beside a support engineer's other tools:

- ``etcd_perf.gather``: reading bundles (archives, must-gather trees, etcd_info, logs, metrics);
- ``etcd_perf.analyze``: judging them (``etcd_perf.analyze.api.analyze_bundle`` is the entry point),
  ``.compare`` (before and after) and ``.fleet`` (many bundles on Dask);
- ``etcd_perf.sample``: the sample bundle, as package data.
"""

import os as _os
import sys as _sys

# polars allocates through jemalloc, and tells it to give freed pages back lazily: first as pages the kernel
# may take (MADV_FREE) after 0.5 s, for good 1 s later. Pages given back the first way still count in the
# process's resident memory until the kernel runs short, and a parse frees hundreds of MB a second: skipping
# that step (muzzy_decay_ms:0) lowered a 1 GiB bundle's peak RSS by 150 to 300 MB, with no cost in time
# measured (BENCHMARKS.md, session 14); giving them back after 0.2 s rather than 0.5, by 60 to 100 MB more,
# for 1 to 4 % of the time (session 15; at 0 s half as slow again); after 0.1 s (dirty_decay_ms:100), once
# the analysis had slimmed, the highest of five runs 551 MB against 617 for the lab-line 1 GiB corpus, the
# same time within the runs' noise (session 16).
# Only before polars is loaded, and never over a user's own setting. (The C library's malloc: allocator.py.)
if "polars" not in _sys.modules and "_RJEM_MALLOC_CONF" not in _os.environ:
    _os.environ["_RJEM_MALLOC_CONF"] = "dirty_decay_ms:100,muzzy_decay_ms:0"
