"""Benchmarks: each prints its figures next to the obvious alternative, measured in the same run."""
