"""Judging a bundle: window, per-member measures, election timeline, rules, findings, reports.

Works only on the model ``gather`` hands over (records and polars frames); it never opens a
file of the bundle, so every number here can be reproduced from that model alone.
"""
