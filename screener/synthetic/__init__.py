"""Synthetic traffic with true labels: the event generator and its presets, the texts and
evasions it draws on, the benchmarks' message corpus, and the script behind seeds/events."""
