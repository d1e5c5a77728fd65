"""``python -m etcd_perf`` is the ``etcd-perf`` command."""

from etcd_perf.analyze.cli import main

if __name__ == "__main__":
    main()
