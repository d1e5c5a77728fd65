"""Two analyses of one cluster, before and after (``etcd-perf compare``): the engine (``engine``), the
statistics it judges by (``effect``) and its reports (``report``)."""
