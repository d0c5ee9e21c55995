"""Behaviour state in the service: screened per input partition, logged to a changelog topic.

The worker keeps one state per input partition it owns (`state.partitioned`). Each batch is
screened partition by partition against that partition's state; the state changes it causes
become changelog records (partition p of the input → partition p of its changelog topic,
keyed by user or campaign signature) that delivery produces with the batch: acknowledged
before its offsets are committed (at-least-once), or inside its transaction (exactly-once).
Before a partition's first batch on this worker its state is restored from the changelog, read
to its end (`kafka.changelog.read_to_end`; read_committed under exactly-once), so a restart or
a rebalance continues every count where the last committed batch left it.

The changelog topic of input topic T is `{group_id}-{T}-state-changelog` (compacted, as many
partitions as T), named after the consumer group as Kafka Streams names its changelogs after
the application id: two groups reading one topic keep separate state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from screener.engine import Engine
from screener.events import Event
from screener.kafka import ensure_topics, partition_ids
from screener.kafka.changelog import read_to_end
from screener.kafka.clients import Options
from screener.observe import BatchReport
from screener.pipeline.fetched import InputRecord, runs
from screener.pipeline.records import Placed
from screener.pipeline.settings import Settings
from screener.state.partitioned import Partition, PartitionedState
from screener.verdict import Verdicts

log = logging.getLogger("screener.worker")

CHANGELOG_CONFIG = {"cleanup.policy": "compact"}


class StateTopicMismatch(RuntimeError):
    """A changelog topic exists with fewer partitions than its input: state of partition p
    could not go to partition p. A configuration error (a restart cannot fix it)."""


def changelog_topic(settings: Settings, input_topic: str) -> str:
    return f"{settings.group_id}-{input_topic}-state-changelog"


class StatefulScreening:
    """Screening against per-partition state, and that state's changelog records."""

    def __init__(self, settings: Settings, state: PartitionedState):
        self.settings = settings
        self.state = state
        self.restored_records = 0
        self.restore_seconds = 0.0
        self._evicted = 0

    # -- start-up and restore (the worker calls these) ------------------------------------------

    async def prepare_topics(self, options: Options) -> None:
        """Create the changelog topics (compacted, one partition per input partition)."""
        inputs = await partition_ids(options, self.settings.input_topics)
        for topic, parts in inputs.items():
            name = changelog_topic(self.settings, topic)
            count = max(parts) + 1 if parts else 1
            await ensure_topics(options, [name], count, config=CHANGELOG_CONFIG, wait_s=30)
            found = (await partition_ids(options, [name]))[name]
            if len(found) < count:
                raise StateTopicMismatch(
                    f"changelog topic {name!r} has {len(found)} partitions, its input {topic!r} "
                    f"has {count}: delete it (its state is then lost) or give the input topic "
                    "its old partition count"
                )

    async def restore(
        self, options: Options, partitions: Sequence[Partition], read_committed: bool
    ) -> tuple[int, float]:
        """Rebuild the states of `partitions` from their changelogs: (records, seconds)."""
        started = time.perf_counter()
        wanted = [(changelog_topic(self.settings, t), p) for t, p in partitions]
        found = await read_to_end(
            options, wanted, read_committed=read_committed,
            timeout_s=self.settings.state_restore_timeout_s,
        )  # fmt: skip
        records = 0
        for (topic, p), source in zip(partitions, wanted, strict=True):
            rows = found[source]
            records += len(rows)
            keys = self.state.restore((topic, p), rows)
            log.info("state of %s-%d restored: %d keys from %d changelog records", topic, p,
                     keys, len(rows))  # fmt: skip
        seconds = time.perf_counter() - started
        self.restored_records += records
        self.restore_seconds += seconds
        return records, seconds

    # -- per batch (the processor calls these) ---------------------------------------------------

    def screen(
        self, engine: Engine, events: Sequence[Event], owners: Sequence[InputRecord]
    ) -> Verdicts:
        """Verdicts for `events` (from `owners`, position by position), each partition's
        events against its own state; the states are updated only once every partition of
        the batch is screened, so a failure leaves them as they were (the batch is then
        isolated record by record, each one screened and stored on its own)."""
        needs = engine.pack.behaviour
        if not needs:
            return engine.screen(events)
        self.state.repack(needs)
        groups: dict[Partition, list[npt.NDArray[np.int64]]] = {}
        for p, start, end in runs(owners):  # no pass over the records (`pipeline.fetched`)
            groups.setdefault(p, []).append(np.arange(start, end, dtype=np.int64))
        # one call, one decide: the batch is folded, matched and its per-event facts worked
        # out once; each partition's events read only its own (tagged) keys of the one state
        view = self.state.view({p: _joined(where) for p, where in groups.items()})
        verdicts, updates = engine.screen_stateful(events, view)
        if updates is not None:
            view.apply(updates)
        return verdicts

    def invalidate(self, partitions: Iterable[Partition]) -> None:
        """An aborted batch: its partitions' states are restored again before their next
        batch (the changelog, read committed, has exactly what was committed)."""
        self.state.invalidate(partitions)

    def changelog(
        self, report: BatchReport, partitions: frozenset[Partition] | None = None
    ) -> list[Placed]:
        """The state changes of `partitions` (None: every one) since their last changelog,
        as records per changelog partition; the report gets the state's size and evictions."""
        settings = self.settings
        out = [
            Placed(changelog_topic(settings, topic), p, records)
            for (topic, p), records in self.state.changes(partitions).items()
        ]
        report.state_entries = self.state.size()
        report.state_evictions = self.state.evicted - self._evicted
        self._evicted = self.state.evicted
        return out


def _joined(runs: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    return runs[0] if len(runs) == 1 else np.concatenate(runs)
