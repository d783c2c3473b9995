"""Benchmarks: `python -m bench` measures the bars of docs/benchmarks.md and writes a report."""
