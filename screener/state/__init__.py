"""Per-partition behaviour state: windowed counters, bounded stores, changelog records."""
