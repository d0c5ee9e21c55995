"""A worker restores behaviour state once for every assigned partition that has none, when the
first of them shows up in a batch: one restore (one wait for fetch responses) for all of them,
not one per partition as each partition's records first arrive."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from screener.kafka import ConsumerRecord, TopicPartition
from screener.pipeline.settings import Settings
from screener.pipeline.worker import Worker


class _States:
    """`PartitionedState.missing` over the partitions restored so far."""

    def __init__(self) -> None:
        self.have: set[tuple[str, int]] = set()

    def missing(self, partitions: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
        return sorted({p for p in partitions if p not in self.have})


class _State:
    """`StatefulScreening` as `Worker._restore` uses it: its states, and the restores asked."""

    def __init__(self) -> None:
        self.state = _States()
        self.restores: list[list[tuple[str, int]]] = []

    async def restore(
        self, options: object, partitions: Sequence[tuple[str, int]], read_committed: bool
    ) -> tuple[int, float]:
        self.restores.append(list(partitions))
        self.state.have.update(partitions)
        return 0, 0.0


class _Observer:
    def __init__(self) -> None:
        self.restored: list[int] = []

    def state_restored(self, partitions: int, records: int, seconds: float) -> None:
        self.restored.append(partitions)


def _record(topic: str, partition: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, 0, 0, 0, b"k", b"{}", None, 1, 1, [])


async def test_the_first_batch_restores_every_assigned_partition_at_once() -> None:
    assigned = {TopicPartition("in", p) for p in range(6)} | {TopicPartition("mb", 0)}
    state, observer = _State(), _Observer()
    worker: Any = SimpleNamespace(
        state=state, settings=Settings(), delivery=SimpleNamespace(read_committed=False),
        observer=observer,
    )  # fmt: skip
    consumer = SimpleNamespace(assignment=lambda: assigned)
    await Worker._restore(worker, consumer, [_record("in", 2)])  # type: ignore[arg-type]
    assert state.restores == [sorted((tp.topic, tp.partition) for tp in assigned)]
    assert observer.restored == [7]
    # the other partitions' first batches find their state: no more restores
    for p in (0, 1, 3, 4, 5):
        await Worker._restore(worker, consumer, [_record("in", p), _record("mb", 0)])  # type: ignore[arg-type]
    assert len(state.restores) == 1
    # a partition assigned later (a rebalance) is restored with the batch that brings it
    assigned.add(TopicPartition("in", 6))
    await Worker._restore(worker, consumer, [_record("in", 6)])  # type: ignore[arg-type]
    assert state.restores[1:] == [[("in", 6)]]
