"""Process-level tuning shared by every long-running command (service, scan, benchmarks)."""

from __future__ import annotations

import gc


def tune_gc(young: int = 10_000) -> None:
    """Keep the cyclic GC off the long-lived heap (rules, automata, imported modules).

    Batches allocate tens of thousands of short-lived tracked objects (records, events,
    verdicts); with CPython's default thresholds each batch triggers collections that walk
    the whole heap, several hundred thousand objects after a pack is compiled. Measured with
    `screener bench pipeline`: freezing what exists after start-up and collecting the young
    generation every 10,000 allocations instead of 700 takes parse + screen from ~33 to ~14
    µs per message on the benchmark machine. Cycles are still collected.

    `young`: the young generation's threshold (net tracked allocations between collections);
    see `young_threshold` for the service's.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 10, 10)


def young_threshold(batch_max_records: int) -> int:
    """The service's young-generation GC threshold: above what its batches keep alive.

    A worker holds about two batches at once (one screened while the previous one's output is
    acknowledged): ~12 tracked objects per record (consumer record, event models and their
    dicts, verdict), ~25k per 2,000-record batch, all garbage soon after. At 10,000 the young
    generation was collected twice per batch while everything in it was still alive, so each
    collection scanned and promoted live batches for nothing: ~2 µs/msg of a worker's ~16.5
    (same backlog, alternating runs; peak RSS unchanged). At 50 per record collections become
    rare and find the batches already freed.
    """
    return max(10_000, 50 * batch_max_records)
