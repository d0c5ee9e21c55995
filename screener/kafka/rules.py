"""Rule packs and worker status through Kafka: the I/O half of `--rules-source kafka`,
`screener rules publish` and `screener rules status`.

- The rules topic (compacted, one key) holds pack bundles (`screener.reload.bundle`). A
  worker reads it from the beginning: at start it takes the newest bundle that compiles, then
  offers every new one to its reload controller, so the fleet converges on the latest valid
  pack and a bundle that does not compile is refused by each worker (counted, old pack kept).
- The status topic (compacted, keyed by group/host/worker index) carries each worker's version,
  source and last refusal, refreshed every few seconds: `rules status` reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from screener.reload.bundle import MAX_BYTES, Bundle, BundleError, compile_bundle
from screener.reload.controller import Reloader
from screener.rules import PackError, RulePack

log = logging.getLogger("screener.reload")

PACK_KEY = b"pack"
STATUS_INTERVAL_S = 5.0
_MAX_RECORD = MAX_BYTES + 1024 * 1024
_COMPACTED = {"cleanup.policy": "compact", "max.message.bytes": str(_MAX_RECORD)}


async def ensure_compacted(options: dict[str, Any], topic: str) -> None:
    """Create `topic` (one partition, compacted) if it does not exist."""
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        if topic in set(await admin.list_topics()):
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=_COMPACTED)])
    finally:
        await admin.close()


async def publish(options: dict[str, Any], topic: str, bundle: Bundle) -> int:
    """Write one bundle; returns its offset."""
    await ensure_compacted(options, topic)
    producer = AIOKafkaProducer(
        acks="all", compression_type="gzip", max_request_size=_MAX_RECORD, **options
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, bundle.encode(), key=PACK_KEY)
        return int(meta.offset)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Published:
    offset: int
    value: bytes | None


async def _partitions(options: dict[str, Any], topic: str, wait: float) -> list[int]:
    """The topic's partitions once each has a leader, asking the cluster (a client's cached
    metadata can predate a topic created a moment ago); `[]` if it does not exist by then."""
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        deadline = time.monotonic() + wait
        while True:
            (meta,) = await admin.describe_topics([topic])
            parts = meta["partitions"] if meta["error_code"] == 0 else []
            if parts and all(p["leader"] >= 0 for p in parts):
                return sorted(int(p["partition"]) for p in parts)
            if time.monotonic() > deadline:
                return []
            await asyncio.sleep(0.2)  # poll interval inside the deadline
    finally:
        await admin.close()


async def _read_all(
    consumer: AIOKafkaConsumer, options: dict[str, Any], topic: str, timeout: float,
    wait_for_topic: float = 2.0,
) -> list[Any]:  # fmt: skip
    """Every record of `topic` up to its end as of now (its partitions assigned from 0).

    Waits up to `wait_for_topic` for the topic to exist with leaders; if it does not, `[]`
    and nothing assigned."""
    deadline = time.monotonic() + timeout
    parts = await _partitions(options, topic, min(timeout, wait_for_topic))
    tps = [TopicPartition(topic, p) for p in parts]
    consumer.assign(tps)
    if not tps:
        return []
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    records: list[Any] = []
    while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not read {topic} to its end in {timeout:.0f}s")
        for batch in (await consumer.getmany(timeout_ms=200)).values():
            records.extend(batch)
    return records


class RulesTopicSource:
    """Follows the rules topic for one worker (see the module doc)."""

    def __init__(self, options: dict[str, Any], topic: str, create: bool = True):
        self.options = options
        self.topic = topic
        self.create = create
        """create the topic if missing (`--create-topics`)."""
        self._consumer: AIOKafkaConsumer | None = None

    def _origin(self, offset: int) -> str:
        return f"kafka:{self.topic}@{offset}"

    def _build(self, value: bytes | None, offset: int) -> Callable[[], RulePack]:
        origin = self._origin(offset)

        def build() -> RulePack:
            if value is None:
                raise PackError([f"{origin}:1: empty record (a deleted pack)"])
            try:
                bundle = Bundle.decode(value)
            except BundleError as exc:
                raise PackError([f"{origin}:1: {exc}"]) from exc
            return compile_bundle(bundle, origin)

        return build

    async def start(self, timeout: float = 30.0) -> list[Published]:
        """Connect and read what is published so far (oldest first)."""
        if self.create:
            await ensure_compacted(self.options, self.topic)
        consumer = AIOKafkaConsumer(
            **self.options, enable_auto_commit=False, group_id=None,
            fetch_max_bytes=_MAX_RECORD * 2, max_partition_fetch_bytes=_MAX_RECORD,
        )  # fmt: skip
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return await self._catch_up(timeout)

    async def _catch_up(self, timeout: float) -> list[Published]:
        assert self._consumer is not None
        records = await _read_all(
            self._consumer, self.options, self.topic, timeout, wait_for_topic=timeout
        )
        return [Published(r.offset, r.value) for r in records if r.key == PACK_KEY]

    async def initial(self, reloader: Reloader, published: list[Published]) -> bool:
        """Take the newest published pack that compiles (newer refused ones are counted)."""
        for item in reversed(published[-10:]):  # compaction keeps the topic short anyway
            build = self._build(item.value, item.offset)
            if await reloader.offer(build, self._origin(item.offset)):
                return True
        return False

    async def run(self, reloader: Reloader) -> None:
        """Until cancelled: offer each newly published pack, in order. If `start` could not
        find the topic, keep looking for it (and take its newest valid pack once found)."""
        delay = 1.0
        while self._consumer is None or not self._consumer.assignment():
            try:
                if self._consumer is None:
                    published = await self.start(30.0)
                else:
                    published = await self._catch_up(30.0)
                await self.initial(reloader, published)
            except Exception as exc:  # unreachable, missing topic: keep trying, keep screening
                log.warning("rules topic %s: %r; retrying in %.0fs", self.topic, exc, delay)
            if self._consumer is None or not self._consumer.assignment():
                await asyncio.sleep(delay)
                delay = min(2 * delay, 30.0)
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:
                log.warning("rules topic %s: %s; retrying", self.topic, exc)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for r in records:
                    if r.key == PACK_KEY:
                        await reloader.offer(self._build(r.value, r.offset), self._origin(r.offset))

    async def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 5)


# -- worker status ----------------------------------------------------------------------------


@dataclass
class WorkerStatus:
    group: str
    index: int
    source: str
    version: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    refused: str | None = None
    state: str = "running"

    @property
    def key(self) -> str:
        """Unique per process: several `screener run` may share a host and a worker index
        (a restarted worker reports under a new key; its old one goes stale and is hidden)."""
        return f"{self.group}/{self.host}/{self.pid}/{self.index}"

    def encode(self) -> bytes:
        return orjson.dumps({
            "worker": self.key, "group": self.group, "host": self.host, "pid": self.pid,
            "index": self.index, "source": self.source, "version": self.version,
            "refused": self.refused, "state": self.state, "updated_at": time.time(),
        })  # fmt: skip


class StatusPublisher:
    """Writes this worker's `WorkerStatus` every few seconds and at once when it changes."""

    def __init__(
        self, options: dict[str, Any], topic: str, status: WorkerStatus, create: bool = True
    ):
        self.options = options
        self.topic = topic
        self.status = status
        self.create = create
        self._failing = False
        self.changed = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None

    async def run(self) -> None:
        """Until cancelled; a broker outage delays reports, it never stops the worker."""
        while True:
            try:
                if self._producer is None:
                    if self.create:
                        await ensure_compacted(self.options, self.topic)
                    producer = AIOKafkaProducer(acks=1, **self.options)
                    await producer.start()
                    self._producer = producer
                await self._producer.send_and_wait(
                    self.topic, self.status.encode(), key=self.status.key.encode()
                )
                self._failing = False
            except (KafkaError, OSError) as exc:
                if not self._failing:  # once per outage, not every few seconds
                    log.warning("status topic %s: %s (reports resume when it works)",
                                self.topic, exc)  # fmt: skip
                self._failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), STATUS_INTERVAL_S)
            self.changed.clear()

    async def close(self) -> None:
        """Say `stopped` (best effort) and disconnect."""
        if self._producer is None:
            return
        self.status.state = "stopped"
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    self.topic, self.status.encode(), key=self.status.key.encode()
                ), 3,
            )  # fmt: skip
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._producer.stop(), 5)


async def read_status(options: dict[str, Any], topic: str, timeout: float = 15.0) -> list[Any]:
    """The latest status of every worker that ever reported (decoded dicts)."""
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        latest: dict[bytes | None, Any] = {}
        for r in await _read_all(consumer, options, topic, timeout):
            if r.value is None:
                latest.pop(r.key, None)
                continue
            with contextlib.suppress(orjson.JSONDecodeError):
                latest[r.key] = orjson.loads(r.value)
        return list(latest.values())
    finally:
        await consumer.stop()


async def read_latest_pack(options: dict[str, Any], topic: str, timeout: float = 15.0
                           ) -> tuple[int, dict[str, Any]] | None:  # fmt: skip
    """(offset, header fields) of the newest record on the rules topic, or None."""
    consumer = AIOKafkaConsumer(
        **options, enable_auto_commit=False, group_id=None, fetch_max_bytes=_MAX_RECORD * 2,
        max_partition_fetch_bytes=_MAX_RECORD,
    )  # fmt: skip
    await consumer.start()
    try:
        records = await _read_all(consumer, options, topic, timeout)
        records = [r for r in records if r.key == PACK_KEY]
    finally:
        await consumer.stop()
    if not records:
        return None
    last = records[-1]
    try:
        data = orjson.loads(last.value or b"{}")
    except orjson.JSONDecodeError:
        data = {}
    fields = {k: data.get(k) for k in ("version", "published_at", "publisher")}
    return int(last.offset), fields
