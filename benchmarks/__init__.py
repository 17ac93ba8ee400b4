"""Load and throughput benchmarks, run as `python -m benchmarks.<name>`; see README.md."""
