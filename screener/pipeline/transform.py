"""The pure part of a batch: input records → output records, offsets and a report.

No I/O and no Kafka client: a processor takes the records a consumer returned and says what
must be produced (review, DLQ, audit records, and any `changelog` records of state that must
be committed together with the batch) and which offsets complete it. A delivery strategy
(`pipeline.delivery`) then produces and commits; neither knows the other's insides, and tests
call `screen_records` directly.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import Protocol

from screener.decode import decode_event
from screener.engine import Engine
from screener.events import (
    ChatEvent,
    Event,
    LaxChat,
    LaxMicroblog,
    LeanChat,
    LeanMicroblog,
    MicroblogEvent,
    ParseError,
)
from screener.observe import ENGINE_ERROR, INVALID_KIND, OUTPUT_REFUSED, BatchReport, Partition
from screener.pipeline.commits import ALL, CommitInterval
from screener.pipeline.fetched import InputRecord, next_offsets
from screener.pipeline.records import (
    Headers,
    Outgoing,
    Placed,
    audit_item,
    dlq_item,
    review_item,
)
from screener.pipeline.refused import fit
from screener.pipeline.settings import Settings
from screener.verdict import Verdict, Verdicts

log = logging.getLogger("screener.worker")

LATEST = 20
"""flagged verdicts a report keeps for live views."""

_KIND_OF_CLASS: dict[type[Event], str] = {
    LeanChat: "chat", LeanMicroblog: "microblog", LaxChat: "chat", LaxMicroblog: "microblog",
    ChatEvent: "chat", MicroblogEvent: "microblog",
}  # fmt: skip
_TOPIC = attrgetter("topic")
_CATEGORY_ACTION = attrgetter("category", "action")
_FINDINGS = attrgetter("findings")
_RULE = attrgetter("rule")
_FLAGGED = attrgetter("flagged")


@dataclass(slots=True)
class Batch:
    """What one batch of input turns into. Delivery produces `outgoing` and `changelog`
    (both, inside the same transaction with exactly-once) before it commits `offsets`."""

    outgoing: list[Outgoing]
    offsets: dict[Partition, int]
    """next offset to read per partition: committed once the output is acknowledged."""
    report: BatchReport
    changelog: list[Placed] = field(default_factory=list)
    """state changes to commit with the batch (a state store's changelog topic, per
    partition): with a commit interval, those of every batch since the last commit; empty
    for stateless processors."""
    commit: bool = True
    """the batch closes a commit interval (`pipeline.commits`): once its output and that of
    the batches since the last commit are acknowledged, their offsets are committed."""
    closes: frozenset[Partition] | None = None
    """with `commit`, the partitions whose interval it closes, their offsets alone committed
    (None: every partition's)."""


class Processor(Protocol):
    """Turns consumed records into a `Batch`. Called between deliveries, never concurrently."""

    def process(self, records: Sequence[InputRecord]) -> Batch: ...

    def rewound(self, batch: Batch) -> None:
        """The batch was not committed and will be read again (an aborted transaction): undo
        whatever `process` changed for it (a stateless processor has nothing to undo)."""
        ...

    def flush(self, force: bool) -> Batch | None:
        """A batch of no records that closes the commit interval, if batches since the last
        commit wait for one (`force`: also before the interval is up; before a revoke or a
        stop), else None."""
        ...


@dataclass(slots=True)
class Screened(Batch):
    """A screened batch: also the verdicts and which records they belong to."""

    verdicts: Verdicts = field(default_factory=lambda: Verdicts([], "", {}))
    errors: int = 0
    events: list[Event] = field(default_factory=list)
    owners: list[InputRecord] = field(default_factory=list)


Screen = Callable[[Sequence[Event], Sequence[InputRecord]], Verdicts]
"""verdicts for events (parsed from records, position by position): `engine.screen`, or the
per-partition stateful screening (`pipeline.stateful`)."""


class KeptState(Protocol):
    """Per-partition behaviour state as the processor uses it (`pipeline.stateful`)."""

    def screen(
        self, engine: Engine, events: Sequence[Event], owners: Sequence[InputRecord]
    ) -> Verdicts: ...
    def changelog(
        self, report: BatchReport, partitions: frozenset[Partition] | None = None
    ) -> list[Placed]: ...
    def invalidate(self, partitions: Iterable[Partition]) -> None: ...


class ScreeningProcessor:
    """The service's processor: parse, screen with `engine`, build review/DLQ/audit output.

    `engine` may be replaced between batches (a rules reload builds a new `Engine`); a batch
    is transformed synchronously, so it is screened by one engine from start to end. With
    `state` (behaviour rules), each partition's events are screened against its own state and
    the batch carries the state's changelog records; the state outlives engine swaps.
    """

    def __init__(self, engine: Engine, settings: Settings, state: KeptState | None = None):
        self.engine = engine
        self.settings = settings
        self.state = state
        # exactly-once: one transaction per batch, its changelog inside it (no interval)
        interval = settings.commit_interval_ms if settings.guarantee == "at-least-once" else 0
        self.commits = CommitInterval(
            interval, settings.commit_every, stagger=settings.commit_stagger
        )

    def process(self, records: Sequence[InputRecord]) -> Screened:
        state, engine = self.state, self.engine
        if state is None or not engine.pack.behaviour:
            batch = screen_records(engine, records, self.settings)
        else:
            batch = screen_records(engine, records, self.settings, partial(state.screen, engine))
        closing = self.commits.closing(len(records), batch.offsets.keys())
        if closing is ALL or closing:
            self._close(batch, closing)
        else:
            batch.commit = False
        return batch

    def flush(self, force: bool) -> Batch | None:
        closing = self.commits.idle(force)
        if closing is not ALL and not closing:
            return None
        batch = Batch([], {}, BatchReport(0, Counter()))
        self._close(batch, closing)
        return batch

    def _close(self, batch: Batch, closing: frozenset[Partition] | None) -> None:
        """The batch closes the interval of the `closing` partitions (`ALL`: every one): it
        carries their state's changes since their last commit, one record per key changed (a
        key changed by many batches is written once)."""
        batch.closes = closing
        if self.state is not None:
            batch.changelog = self.state.changelog(batch.report, closing)
        self.commits.closed(closing)

    def rewound(self, batch: Batch) -> None:
        if self.state is not None:  # its changelog (read committed) holds the state again
            self.state.invalidate(batch.offsets)


class PassThrough:
    """Copies every record to `output_topic` unparsed: the benchmark's baseline, which pays
    for the same consumer, producer, batching and delivery as the service, and no screening."""

    def __init__(self, output_topic: str):
        self.output_topic = output_topic

    def process(self, records: Sequence[InputRecord]) -> Batch:
        out = self.output_topic
        outgoing = [Outgoing(out, r.key, r.value or b"", list(r.headers or ())) for r in records]
        report = BatchReport(len(records), Counter(), produced=Counter({out: len(records)}))
        return Batch(outgoing, next_offsets(records), report)

    def rewound(self, batch: Batch) -> None:
        pass

    def flush(self, force: bool) -> Batch | None:
        return None  # every batch commits


def screen_records(
    engine: Engine, records: Sequence[InputRecord], settings: Settings, screen: Screen | None = None
) -> Screened:
    """Parse and screen a batch (pure: no I/O). Records that are not events go to the DLQ."""
    events: list[Event] = []
    refused: set[int] = set()
    outgoing: list[Outgoing] = []
    reasons: Counter[str] = Counter()
    for i, record in enumerate(records):
        parsed = (  # the lean decoder: pydantic's answer at about orjson's cost (screener.decode)
            decode_event(record.value)
            if record.value is not None
            else ParseError("empty", "record has no value")
        )
        if isinstance(parsed, ParseError):
            reasons[parsed.reason] += 1
            outgoing.append(_dead(settings, record, f"{parsed.reason}: {parsed.detail}"))
            refused.add(i)
        else:
            events.append(parsed)
    # every record parsed (the common case): the batch itself, whose `Fetched` runs the state
    # reads; else the parsed ones, position by position with `events`
    owners: list[InputRecord] = (
        records
        if not refused and isinstance(records, list)
        else [r for i, r in enumerate(records) if i not in refused]
    )
    parsed_owners = owners
    verdicts, owners = _screen_isolating(engine, events, owners, settings, outgoing, screen)
    for i, verdict in verdicts.decided.items():  # only events with findings can be flagged
        if verdict.flagged:
            item = review_item(verdict, owners[i].value or b"", settings.review_topic)
            r = owners[i]  # too large for the broker: its DLQ form, so the partition moves on
            item.source = (r.topic, r.partition, r.offset)
            fitted = fit(item, settings.max_output_bytes, settings.dlq_topic, item.source)
            if fitted is not item:
                reasons[OUTPUT_REFUSED] += 1
            outgoing.append(fitted)
    if settings.verdicts_topic:
        outgoing += [audit_item(verdict, settings.verdicts_topic) for verdict in verdicts]
    offsets = next_offsets(records)
    reasons[ENGINE_ERROR] += len(events) - len(verdicts)  # isolated: the engine failed on them
    report = _report(records, events, parsed_owners, verdicts, outgoing, offsets, reasons)
    errors = reasons.total() - reasons[OUTPUT_REFUSED]  # records not screened
    return Screened(
        outgoing, offsets, report, verdicts=verdicts, errors=errors, events=events, owners=owners
    )


def _report(
    records: Sequence[InputRecord], events: Sequence[Event], owners: Sequence[InputRecord],
    verdicts: Verdicts, outgoing: Sequence[Outgoing], offsets: dict[Partition, int],
    reasons: Counter[str],
) -> BatchReport:  # fmt: skip
    """The batch's facts (`events` parsed from `owners`, position by position), counted with
    C-level passes (a few list/Counter passes per batch:
    observers then work per label set, not per record)."""
    consumed: Counter[tuple[str, str]] = Counter()
    topics = {topic for topic, _ in offsets}  # one entry per partition in the batch
    if len(topics) == 1:  # the common case: one topic per batch
        (topic,) = topics
        classes = list(map(type, events))  # one C pass; `event.kind` per event costs more
        for cls, kind in _KIND_OF_CLASS.items():
            if count := classes.count(cls):
                consumed[topic, kind] += count
        invalid = {topic: len(records) - len(events)}
    else:
        owner_topics = [r.topic for r in owners]
        kinds = [_KIND_OF_CLASS[type(e)] for e in events]
        consumed.update(zip(owner_topics, kinds, strict=True))
        valid = Counter(owner_topics)
        invalid = {t: total - valid[t] for t, total in Counter(map(_TOPIC, records)).items()}
    for topic, count in invalid.items():
        if count > 0:
            consumed[topic, INVALID_KIND] = count
    with_findings = [v for v in verdicts.decided.values() if v.findings]
    flagged_verdicts = list(filter(_FLAGGED, with_findings))
    shadowed = [v.shadow for v in verdicts.decided.values() if v.shadow]
    return BatchReport(
        records=len(records),
        consumed=consumed,
        flagged=Counter(map(_CATEGORY_ACTION, flagged_verdicts)),
        rule_hits=Counter(map(_RULE, chain.from_iterable(map(_FINDINGS, with_findings)))),
        shadow_hits=Counter(map(_RULE, chain.from_iterable(shadowed))),
        produced=Counter(map(_TOPIC, outgoing)),
        dlq_reasons=reasons,
        timestamps_ms=[r.timestamp for r in records],
        latest_flagged=flagged_verdicts[-LATEST:],
    )


def _dead(settings: Settings, record: InputRecord, error: str) -> Outgoing:
    headers: Headers = [(k, bytes(v)) for k, v in (record.headers or ())]
    return dlq_item(
        settings.dlq_topic, record.key, record.value, error,
        record.topic, record.partition, record.offset, headers,
    )  # fmt: skip


def _screen_isolating(
    engine: Engine, events: list[Event], owners: list[InputRecord], settings: Settings,
    outgoing: list[Outgoing], screen: Screen | None = None,
) -> tuple[Verdicts, list[InputRecord]]:  # fmt: skip
    """Screen the batch; if the engine fails, screen one by one so one bad record goes to the
    DLQ with the reason and the rest of the partition keeps moving. Returns the verdicts and
    the records they belong to (position by position)."""
    screen = screen or (lambda events, _: engine.screen(events))
    try:
        return screen(events, owners), owners
    except Exception:
        log.exception("engine failed on a batch of %d; isolating the record", len(events))
    ids: list[str] = []
    kept: list[InputRecord] = []
    decided: dict[int, Verdict] = {}
    for event, record in zip(events, owners, strict=True):
        try:
            verdict = screen([event], [record]).decided.get(0)
        except Exception as exc:  # one poisonous record: DLQ, never a stalled partition
            outgoing.append(_dead(settings, record, f"{ENGINE_ERROR}: {type(exc).__name__}: {exc}"))
            continue
        if verdict is not None:
            decided[len(ids)] = verdict
        ids.append(event.id)
        kept.append(record)
    return Verdicts(ids, engine.pack.version, decided), kept
