"""etcd-perf: offline etcd performance analysis of OpenShift must-gathers and etcd-perf bundles.

The one import package the distribution installs. Its parts keep the repository's top-level folders
(pyproject's ``package-dir`` maps them here), so nothing named ``gather`` or ``analyze`` lands at the top
of site-packages beside a support engineer's other tools:

- ``etcd_perf.gather``: reading bundles (archives, must-gather trees, etcd_info, logs, metrics);
- ``etcd_perf.analyze``: judging them (``etcd_perf.analyze.api.analyze_bundle`` is the entry point),
  ``.compare`` (before and after) and ``.fleet`` (many bundles on Dask);
- ``etcd_perf.sample``: the sample bundle, as package data.
"""
