"""The fault suite's moving parts: a continuous stream with known verdicts, a tail of the
outputs, and a checker that states what was lost, duplicated or committed too early.

How the guarantees are stated follows Kafka's own system tests (ProduceConsumeValidate: every
acknowledged record is consumed; loss and duplicates are counted separately, under clean and
hard bounces) and Jepsen's checkers (a history of what was acknowledged, faults scheduled at
random points by a "nemesis", and an offline check of the history afterwards):

- *lost*: an event the input producer had acknowledged, that `screener scan` flags, and that
  is missing from the review topic once the service caught up; likewise a malformed record
  missing from the DLQ. Must be 0.
- *committed ahead*: at random moments during faults, the group's committed offset of a
  partition is read first and the outputs after it; an expected output for an input offset
  below the committed one that is not there is a commit ahead of its output. Must be 0.
- *duplicated*: review items beyond one per input copy of an event (an event the feeder had to
  resend counts as two inputs). Counted under at-least-once; must be 0 under exactly-once.
- *unexpected*: review items for events `scan` does not flag (a wrong verdict). Must be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pipeline_support import PACK, make_events, offline_flagged

from screener.kafka import (
    KafkaError,
    Producer,
    TopicPartition,
    make_admin,
    make_consumer,
    make_producer,
)

Isolation = Literal["read_uncommitted", "read_committed"]


def malformed(i: int) -> bytes:
    """Distinct bad records of several kinds (each must reach the DLQ, recognisable by value)."""
    kinds = [
        b'{"not json %d',
        b"\xff\xfe bad utf-8 %d",
        b'{"kind": "chat", "id": "m-%d"}',  # no user
        b"[%d, " + b"[" * 40 + b"]" * 41,  # deep nesting
        b'{"kind": "fax", "id": "m-%d", "ts": 1, "user": {"id": "u"}}',
    ]
    return kinds[i % len(kinds)] % i


@dataclass
class Sent:
    """What the input producer had acknowledged: where each event and bad record landed."""

    ids: dict[str, tuple[int, int]] = field(default_factory=dict)
    bad: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    resent: int = 0

    @property
    def records(self) -> int:
        return len(self.ids) + len(self.bad)


class Stream:
    """Pre-generated events (verdicts known from `screener scan`), fed at a steady rate by a
    background task that rides out broker outages by resending what was not acknowledged."""

    def __init__(self, bootstrap: str, topic: str, tmp_path: Any, n: int, *, rate: float,
                 prefix: str, seed: int, bad_every: int = 250) -> None:  # fmt: skip
        self.bootstrap = bootstrap
        self.topic = topic
        self.rate = rate
        self.events = make_events(n, prefix, seed=seed)
        self.expected = offline_flagged(tmp_path, self.events)
        self.bad_every = bad_every
        self.sent = Sent()
        self._extra: asyncio.Queue[bytes] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.exhausted = False
        self.oversized: set[str] = set()
        """ids of flagged events whose review item is too large for the broker (DLQ form)."""

    def inject(self, value: bytes) -> None:
        """Send one extra record (a poison one) with the next chunk."""
        self._extra.put_nowait(value)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._feed())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _feed(self) -> None:
        producer = make_producer(
            {"bootstrap_servers": self.bootstrap}, acks="all", enable_idempotence=True,
            linger_ms=5, request_timeout_ms=10_000, retry_backoff_ms=200,
        )  # fmt: skip
        await producer.start()
        chunk = max(1, int(self.rate / 10))
        try:
            for start in range(0, len(self.events), chunk):
                if self._stop.is_set():
                    return
                began = time.monotonic()
                values = self.events[start : start + chunk]
                if (start // chunk) % max(1, self.bad_every // chunk) == 0:
                    values = [*values, malformed(start)]
                while not self._extra.empty():
                    values.append(self._extra.get_nowait())
                await self._send_all(producer, values)
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))  # pacing
            self.exhausted = True
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)

    async def _send_all(self, producer: Producer, values: list[bytes]) -> None:
        pending = values
        while pending:
            futures = []
            for value in pending:
                try:
                    futures.append(await producer.send(self.topic, value, key=_key(value)))
                except Exception as exc:  # no metadata while the broker is down
                    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                    fut.set_exception(exc)
                    futures.append(fut)
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = []
            for value, meta in zip(pending, results, strict=True):
                if isinstance(meta, BaseException):
                    failed.append(value)
                    continue
                where = (meta.partition, meta.offset)
                event_id = _event_id(value)
                if event_id is not None:
                    self.sent.ids[event_id] = where
                else:
                    self.sent.bad[value] = where
            if failed:
                self.sent.resent += len(failed)  # may duplicate input: counted from the topic
                await asyncio.sleep(0.5)
            pending = failed


def _event_id(value: bytes) -> str | None:
    """The id of a well-formed event of this stream; None for the bad ones."""
    if not value.startswith(b'{"kind":"chat"'):
        return None
    try:
        return str(orjson.loads(value)["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def _key(value: bytes) -> bytes:
    try:
        return str(orjson.loads(value)["user"]["id"]).encode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return b"broken"


class Tail:
    """Reads topics from the beginning in a background task (the review topic, the DLQ, and at
    the end the input, to count what the feeder's resends duplicated)."""

    def __init__(self, bootstrap: str, topics: Iterable[str], isolation: Isolation) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.consumer = make_consumer(
            {"bootstrap_servers": bootstrap}, *self.topics, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None, isolation_level=isolation,
            max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024,
        )  # fmt: skip
        self.values: dict[str, list[tuple[int, bytes | None, bytes]]] = defaultdict(list)
        self.read: dict[TopicPartition, int] = {}
        """next offset to read per partition (read_committed: may stay below a control
        record's offset, which is why `caught_up` also accepts the position)"""
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Tail:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.consumer.stop()

    async def _run(self) -> None:
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=200)
            except Exception:  # broker down: the consumer reconnects by itself
                await asyncio.sleep(0.2)
                continue
            for tp, records in batch.items():
                for r in records:
                    self.values[tp.topic].append((r.partition, r.key, r.value or b""))
                if records:
                    self.read[tp] = records[-1].offset + 1

    async def caught_up(self, timeout: float = 60.0) -> None:
        """Wait until every record present now (end offsets, or last stable offsets under
        read_committed) has been read."""
        parts = [tp for t in self.topics for tp in await partitions(self.bootstrap, t)]
        ends = await self.consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while True:
            read = {tp: self.read.get(tp, 0) for tp in parts}
            behind = [tp for tp, end in ends.items() if read[tp] < end]
            for tp in behind:  # past the last record: a transaction marker may follow it
                with contextlib.suppress(Exception):
                    read[tp] = max(read[tp], await asyncio.wait_for(self.consumer.position(tp), 1))
            if all(read[tp] >= end for tp, end in ends.items()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"could not read {self.topics} to their ends in {timeout}s: "
                    f"read up to {read}, ends {ends}"
                )
            await asyncio.sleep(0.05)  # poll interval inside the deadline

    def review_ids(self, topic: str) -> Counter[str]:
        return Counter(orjson.loads(v)["event_id"] for _, _, v in self.values[topic])

    def dlq_values(self, topic: str) -> set[bytes]:
        return {v for _, _, v in self.values[topic]}


async def partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = make_admin({"bootstrap_servers": bootstrap})
    await admin.start()
    try:
        (meta,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for p in meta["partitions"]]


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = make_admin({"bootstrap_servers": bootstrap, "request_timeout_ms": 5000})
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic}


async def stable_members(bootstrap: str, group: str) -> int:
    """Members of a group that has finished rebalancing (0 while it is rebalancing)."""
    admin = make_admin({"bootstrap_servers": bootstrap, "request_timeout_ms": 5000})
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    error, _, state, _, _, members = described[:6]
    return len(members) if error == 0 and state == "Stable" else 0


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = make_consumer({"bootstrap_servers": bootstrap}, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await partitions(bootstrap, topic))
    finally:
        await consumer.stop()
    return {tp.partition: o for tp, o in ends.items()}


@dataclass
class FaultStats:
    injected: int = 0
    rounds: int = 0
    checks: int = 0
    records_sent: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: list[float] = field(default_factory=list)

    def summary(self, fault: str, mode: str) -> dict[str, Any]:
        return {
            "fault": fault, "mode": mode, "injected": self.injected, "rounds": self.rounds,
            "checks": self.checks, "records_sent": self.records_sent, "lost": self.lost,
            "duplicated": self.duplicated,
            "recovery_s_max": round(max(self.recovery_s, default=0.0), 2),
            "recovery_s_median": round(sorted(self.recovery_s)[len(self.recovery_s) // 2], 2)
            if self.recovery_s else 0.0,
        }  # fmt: skip


@dataclass
class Checker:
    """Checks the invariants against the tail; collects the per-fault summary."""

    bootstrap: str
    topics: dict[str, str]
    group: str
    stream: Stream
    tail: Tail
    faults: dict[str, FaultStats] = field(default_factory=lambda: defaultdict(FaultStats))
    ahead: list[str] = field(default_factory=list)
    checks: int = 0

    async def commits_not_ahead(self, fault: str, grace_s: float = 0.0) -> int:
        """Committed offsets first, outputs after: nothing expected below a commit may be
        missing. `grace_s` (exactly-once only) allows for transaction markers, which the
        coordinator writes to each partition after the commit decision."""
        try:
            marks = await committed(self.bootstrap, self.group, self.topics["input"])
        except Exception:
            return 0  # broker unreachable right now: nothing to sample
        sent = self.stream.sent
        expected = self.stream.expected
        want_review = {i for i, (p, o) in list(sent.ids.items())
                       if i in expected and o < marks.get(p, -1)}  # fmt: skip
        want_dlq = {v for v, (p, o) in list(sent.bad.items()) if o < marks.get(p, -1)}
        deadline = time.monotonic() + grace_s
        while True:
            await self.tail.caught_up()
            missing = want_review - set(self.tail.review_ids(self.topics["review"]))
            missing_dlq = want_dlq - self.tail.dlq_values(self.topics["dlq"])
            if not (missing or missing_dlq) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)  # poll interval inside the grace period
        self.checks += 1
        self.faults[fault].checks += 1
        if missing or missing_dlq:
            self.faults[fault].lost += len(missing) + len(missing_dlq)
            self.ahead.append(
                f"{fault}: committed {marks} ahead of output: {len(missing)} review items "
                f"(e.g. {sorted(missing)[:3]}), {len(missing_dlq)} DLQ records missing"
            )
        return len(missing) + len(missing_dlq)

    def duplicates(self) -> int:
        """Review items beyond one per input copy of their event, as far as read."""
        copies = Counter(
            i for _, _, v in self.tail.values[self.topics["input"]]
            if (i := _event_id(v)) is not None
        )  # fmt: skip
        seen = self.tail.review_ids(self.topics["review"])
        return sum(max(0, n - copies.get(i, 1)) for i, n in seen.items())

    async def recovered(self, fault: str, since: float, timeout: float = 120.0) -> float:
        """Wait until the group has committed everything sent before now; record how long it
        took from `since` (the end of the fault)."""
        stats = self.faults[fault]
        stats.rounds += 1
        deadline = time.monotonic() + timeout
        while True:  # right after a broker fault its metadata may not answer yet
            try:
                target = await end_offsets(self.bootstrap, self.topics["input"])
                break
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)  # poll interval inside the deadline
        while True:
            with contextlib.suppress(Exception):
                marks = await committed(self.bootstrap, self.group, self.topics["input"])
                if all(marks.get(p, 0) >= end for p, end in target.items()):
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"{fault}: not caught up {timeout}s after the fault")
            await asyncio.sleep(0.1)  # poll interval inside the deadline
        took = time.monotonic() - since
        stats.recovery_s.append(took)
        return took

    async def verdict(self, *, exactly_once: bool) -> dict[str, Any]:
        """The end-of-run history check (after the stream stopped and the group caught up)."""
        await self.tail.caught_up(120)
        seen = self.tail.review_ids(self.topics["review"])
        expected = self.stream.expected
        sent = self.stream.sent
        acked_flagged = {i for i in sent.ids if i in expected}
        lost = acked_flagged - set(seen)
        lost_dlq = set(sent.bad) - self.tail.dlq_values(self.topics["dlq"])
        dlq_keys = {k.decode() for _, k, _ in self.tail.values[self.topics["dlq"]] if k}
        lost |= (self.stream.oversized & set(sent.ids)) - dlq_keys
        unexpected = set(seen) - expected
        duplicated = self.duplicates()
        return {
            "records_sent": sent.records,
            "oversized_sent": len(self.stream.oversized & set(sent.ids)),
            "events_sent": len(sent.ids),
            "malformed_sent": len(sent.bad),
            "flagged_expected": len(acked_flagged),
            "review_items": sum(seen.values()),
            "lost": len(lost) + len(lost_dlq),
            "lost_examples": sorted(lost)[:5] + [repr(v[:40]) for v in list(lost_dlq)[:5]],
            "unexpected": len(unexpected),
            "duplicated": duplicated,
            "input_resent": sent.resent,
            "committed_ahead": len(self.ahead),
            "ahead_examples": self.ahead[:3],
            "ahead_checks": self.checks,
            "exactly_once": exactly_once,
        }


def jitter(rng: random.Random, low: float, high: float) -> float:
    return rng.uniform(low, high)


def tag() -> str:
    return uuid.uuid4().hex[:8]


__all__ = ["PACK", "Checker", "Stream", "Tail"]
