"""The sample bundle, shipped as package data so `etcd-perf analyze` works from an installed wheel."""
