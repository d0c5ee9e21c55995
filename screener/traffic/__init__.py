"""Command implementations that sit on top of the engine: scan, benchmarks, evaluation."""
