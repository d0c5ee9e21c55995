"""Measuring screener: benchmarks (`bench`), the load test, and detection quality (`eval`)."""
