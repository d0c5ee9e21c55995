"""Process-level set-up shared by every command: GC tuning, and the event loop each kind of
command runs on (asyncio is imported on use: `scan` needs neither it nor a loop)."""

from __future__ import annotations

import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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
    rare and find the batches already freed. Since events are decoded into lean structs that
    the GC does not track (`screener.decode`), a record leaves ~3 tracked objects, and 10,000
    and 100,000 measured the same (16.1 µs per record either way, median of 5 interleaved
    in-process runs; freezing the start-up heap still saves ~13 %: 18.4 without).
    """
    return max(10_000, 50 * batch_max_records)


def install_service_loop() -> None:
    """Workers (the service, the demo, the benchmark's contenders) run on the standard asyncio
    loop, not uvloop: under uvloop a write to a connection the broker (or the network) has
    just reset raises RuntimeError, which aiokafka does not catch (aio-libs/aiokafka#1038), so
    the consumer's group coordination dies and the worker with it. The fault suite's network
    cuts showed it; on asyncio the same write is a connection error that aiokafka retries."""
    import asyncio

    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())


def run_tool(main: Coroutine[Any, Any, T]) -> T:
    """Run a short-lived tool's coroutine (record, replay, generate, loadtest, rules publish
    and status) on uvloop where it is installed: faster sends, and no group to stay in."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
