"""What the pipeline tells its observers: one plain report per finished batch, plus events.

The pipeline produces these facts and knows nothing of how they are shown; `metrics.Metrics`
turns them into Prometheus series, `pipeline.worker.Stats` into the demo's live counters, and
`NullObserver` ignores them (the benchmark's pass-through, tests). Neither side imports the
other: both import this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Protocol

from screener.verdict import Verdict

Partition = tuple[str, int]
"""(topic, partition): aiokafka's TopicPartition is such a tuple."""
INVALID_KIND = "invalid"
"""event kind reported for a record that did not parse as an event (it goes to the DLQ)."""
ENGINE_ERROR = "engine_error"
"""DLQ reason class of a record the engine failed on (the others are `ParseError` reasons)."""
OUTPUT_REFUSED = "output_refused"
"""DLQ reason class of output the broker cannot take (`pipeline.refused`)."""


@dataclass(slots=True)
class BatchReport:
    """One batch, finished: what came in, what was decided, what went out, and when."""

    records: int
    consumed: Counter[tuple[str, str]]
    """(input topic, event kind) → records; kind `invalid` for records that are not events."""
    flagged: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    """(top category, action) → flagged events."""
    rule_hits: Counter[str] = field(default_factory=Counter)
    shadow_hits: Counter[str] = field(default_factory=Counter)
    """findings of shadow rules (recorded, never acted on)."""
    produced: Counter[str] = field(default_factory=Counter)
    """output topic → records acknowledged."""
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    """reason class (`bad_json`, `engine_error`, …) → records sent to the DLQ."""
    timestamps_ms: list[int] = field(default_factory=list)
    """Kafka timestamps of the input records (end-to-end latency)."""
    latest_flagged: list[Verdict] = field(default_factory=list)
    """the batch's last few flagged verdicts (the demo shows them)."""
    screen_seconds: float = 0.0
    acked_at: float = 0.0
    """Unix time the broker acknowledged the batch's output."""
    committed: bool = True
    """its offsets were committed (False: the commit was refused; the records are re-read)."""
    state_entries: int | None = None
    """keys the worker's behaviour state holds after the batch (None: no state kept)."""
    state_evictions: int = 0
    """state keys evicted (capacity or TTL) while screening the batch."""


class Observer(Protocol):
    """Receives the pipeline's facts. Every method is cheap and never raises on purpose."""

    def batch_started(self, records: int) -> None: ...
    def batch_finished(self, report: BatchReport) -> None: ...
    def batch_aborted(self) -> None: ...
    def produce_failed(self, unacknowledged: Mapping[str, int]) -> None: ...
    def assigned(self, now_assigned: Set[Partition]) -> None: ...
    def revoked(self, revoked: Set[Partition], still_assigned: Set[Partition]) -> None: ...
    def connected(self, flag: bool) -> None: ...
    def connecting(self, attempt: int, error: str) -> None: ...
    def ready(self, flag: bool) -> None: ...
    def lag(self, per_partition: Mapping[Partition, int]) -> None: ...
    def tick(self) -> None: ...
    def state_restored(self, partitions: int, records: int, seconds: float) -> None: ...


class NullObserver:
    """Observes nothing (in place of `if observer is not None` at every call)."""

    def batch_started(self, records: int) -> None:
        pass

    def batch_finished(self, report: BatchReport) -> None:
        pass

    def batch_aborted(self) -> None:
        pass

    def produce_failed(self, unacknowledged: Mapping[str, int]) -> None:
        pass

    def assigned(self, now_assigned: Set[Partition]) -> None:
        pass

    def revoked(self, revoked: Set[Partition], still_assigned: Set[Partition]) -> None:
        pass

    def connected(self, flag: bool) -> None:
        pass

    def connecting(self, attempt: int, error: str) -> None:
        pass

    def ready(self, flag: bool) -> None:
        pass

    def lag(self, per_partition: Mapping[Partition, int]) -> None:
        pass

    def tick(self) -> None:
        pass

    def state_restored(self, partitions: int, records: int, seconds: float) -> None:
        pass


class Observers:
    """Several observers as one (metrics and the worker's own `Stats`)."""

    def __init__(self, *observers: Observer):
        self.observers = observers

    def batch_started(self, records: int) -> None:
        for o in self.observers:
            o.batch_started(records)

    def batch_finished(self, report: BatchReport) -> None:
        for o in self.observers:
            o.batch_finished(report)

    def batch_aborted(self) -> None:
        for o in self.observers:
            o.batch_aborted()

    def produce_failed(self, unacknowledged: Mapping[str, int]) -> None:
        for o in self.observers:
            o.produce_failed(unacknowledged)

    def assigned(self, now_assigned: Set[Partition]) -> None:
        for o in self.observers:
            o.assigned(now_assigned)

    def revoked(self, revoked: Set[Partition], still_assigned: Set[Partition]) -> None:
        for o in self.observers:
            o.revoked(revoked, still_assigned)

    def connected(self, flag: bool) -> None:
        for o in self.observers:
            o.connected(flag)

    def connecting(self, attempt: int, error: str) -> None:
        for o in self.observers:
            o.connecting(attempt, error)

    def ready(self, flag: bool) -> None:
        for o in self.observers:
            o.ready(flag)

    def lag(self, per_partition: Mapping[Partition, int]) -> None:
        for o in self.observers:
            o.lag(per_partition)

    def tick(self) -> None:
        for o in self.observers:
            o.tick()

    def state_restored(self, partitions: int, records: int, seconds: float) -> None:
        for o in self.observers:
            o.state_restored(partitions, records, seconds)
