"""Many bundles (``etcd-perf ingest`` and ``history``): the Parquet store (``store``), the batch on Dask
distributed (``ingest``), and a cluster's history over its bundles (``history``, ``changepoint``)."""
