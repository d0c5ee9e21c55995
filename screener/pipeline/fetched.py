"""A fetch's records with where each partition's records are, so per-partition steps need no
pass over every record.

`getmany` answers per partition; the worker flattens that into one list for the processor.
Three steps of a batch want the partitions back: which partitions need their state restored,
each partition's next offset, and each partition's events for its own state. Each was a
per-record pass (`{(r.topic, r.partition) for r in records}` and the like): profiled, ~2 % of
a worker's time together at 70k msgs/s. `Fetched` keeps the runs getmany gave, and `runs`
works them out for any other list of records (tests, tools), so callers need not care which
they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from screener.kafka.structs import KafkaRecord, TopicPartition
from screener.observe import Partition

InputRecord = KafkaRecord[bytes]
"""What a processor reads of a consumed record."""

Run = tuple[Partition, int, int]
"""a partition's records at positions [start, end) of a batch."""


class Fetched(list[InputRecord]):
    """Records partition after partition, each partition's in offset order, with their runs."""

    __slots__ = ("runs",)

    def __init__(self, records: Iterable[InputRecord], runs: list[Run]):
        super().__init__(records)
        self.runs = runs


def fetched(batches: Mapping[TopicPartition, Sequence[InputRecord]]) -> Fetched:
    """getmany's answer as one batch (partitions in sorted order), runs from its lists' lengths."""
    out = Fetched((), [])
    for tp in sorted(batches):
        part = batches[tp]
        if part:
            out.runs.append(((tp.topic, tp.partition), len(out), len(out) + len(part)))
            out += part  # in place: no second copy of the batch
    return out


def runs(records: Sequence[InputRecord]) -> list[Run]:
    """Where each partition's records are: a `Fetched`'s own runs, else found by one pass (a
    partition whose records are not together has several runs, in order)."""
    if isinstance(records, Fetched):
        return records.runs
    out: list[Run] = []
    start, current = 0, None
    for i, r in enumerate(records):
        tp = (r.topic, r.partition)
        if tp != current:
            if current is not None:
                out.append((current, start, i))
            start, current = i, tp
    if current is not None:
        out.append((current, start, len(records)))
    return out


def partitions(records: Sequence[InputRecord]) -> set[Partition]:
    return {tp for tp, _, _ in runs(records)}


def next_offsets(records: Sequence[InputRecord]) -> dict[Partition, int]:
    """The offset after each partition's last record (a partition's records come in offset
    order, as getmany returns them: its last run's last record is its last)."""
    return {tp: records[end - 1].offset + 1 for tp, _, end in runs(records)}
