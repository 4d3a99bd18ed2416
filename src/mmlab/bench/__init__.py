"""Benchmarks run by `make bench` (speed figures live here, never in timed tests)."""
