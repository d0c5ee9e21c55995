"""Reading a compacted changelog back: every record of some partitions, up to their end.

A state store restores itself from its changelog before its partition is screened (as Kafka
Streams' restore consumer does): read from the beginning to the end offset as of now. Under
exactly-once the reader is `read_committed`, so it stops at the last stable offset and never
sees an aborted transaction's records. The end is the larger of ListOffsets and what the
fetch responses report (high watermark, or last stable offset under read_committed): Tansu 0.6
answers ListOffsets(latest) with the base offset of the last batch, which would stop short.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from screener.kafka.clients import Options, make_consumer
from screener.kafka.structs import TopicPartition

Partition = tuple[str, int]
Record = tuple[bytes, bytes | None]


FETCH_WAIT_MS = 50
"""how long the broker may hold one of the reader's fetches when nothing is waiting"""
POLL_MS = FETCH_WAIT_MS
"""how long one poll waits for records: the end of a partition is known from a fetch response,
so polling longer than a fetch may wait only waited out an empty one (200: ~270 ms to restore
an empty changelog on Apache Kafka here, ~120 at 50)"""


class RestoreTimeout(TimeoutError):
    """The changelog could not be read to its end in time (broker slow or unreachable)."""


async def read_to_end(
    options: Options, partitions: Sequence[Partition], *, read_committed: bool,
    timeout_s: float = 300.0, settle_s: float = 10.0,
) -> dict[Partition, list[Record]]:  # fmt: skip
    """(key, value) of every keyed record of each partition, oldest first (value None: a
    tombstone). Raises `RestoreTimeout` if the end is not reached within `timeout_s`.

    Read committed, a partition whose last stable offset is below its high watermark has a
    transaction still open: most often the previous owner's last one, committed a moment ago
    and its markers not yet written everywhere. Up to `settle_s` is given for it to settle
    (a zombie's transaction that never will is aborted at its timeout: what is committed up
    to the last stable offset is then the state, and reading stops there)."""
    out: dict[Partition, list[Record]] = {tp: [] for tp in partitions}
    if not partitions:
        return out
    consumer = make_consumer(
        options, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20,
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        listed = await consumer.end_offsets(tps)
        started = time.monotonic()
        deadline = started + timeout_s
        pending = set(tps)
        while pending:
            if time.monotonic() > deadline:
                raise RestoreTimeout(
                    f"changelog {sorted(pending)} not read to its end within {timeout_s:g}s"
                )
            batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=50_000)
            for tp, records in batches.items():
                into = out[tp.topic, tp.partition]
                into += [(r.key, r.value) for r in records if r.key is not None]
            for tp in list(pending):
                seen = consumer.last_stable_offset(tp) if read_committed else consumer.highwater(tp)
                if seen is None:  # no fetch response yet: the end is not known
                    continue
                if await consumer.position(tp) < max(listed[tp], seen):
                    continue
                open_txn = read_committed and (consumer.highwater(tp) or 0) > seen
                if not open_txn or time.monotonic() - started > settle_s:
                    pending.discard(tp)
        return out
    finally:
        await consumer.stop()
