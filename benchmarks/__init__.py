"""Benchmarks: `python -m benchmarks.NAME`; each prints one JSON line of figures."""
