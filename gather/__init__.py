"""Reading etcd bundles: archives, must-gather trees, etcd_info files, pod specs and logs.

This package knows where things live in a bundle and how each file is formatted. It turns a
bundle into typed records and polars frames and never judges what it reads: thresholds and
verdicts belong to ``analyze``.
"""
