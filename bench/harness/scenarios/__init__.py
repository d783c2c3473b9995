"""One module per bar of docs/benchmarks.md; each returns report rows and never raises past the runner."""
