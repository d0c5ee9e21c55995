"""`screener run` against real brokers over TCP: online agrees with offline, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from screener.brokers import BrokerProcess
from screener.tools import corpus

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "tests" / "unit" / "packs" / "basic.yaml"
MALFORMED = [b"{not json", b"\xff\xfe\xfd", b"[1, 2, 3]", b'{"kind": "chat", "id": "no-user"}']


def make_events(n: int, prefix: str, seed: int = 3) -> list[bytes]:
    """Chat events with a known share of violations, keyed later by user id."""
    texts = corpus.messages(n, seed=seed, violating_share=0.08)
    return [
        orjson.dumps({"kind": "chat", "id": f"{prefix}-{i}", "ts": 1_700_000_000_000 + i,
                      "user": {"id": f"u{i % 97}"}, "text": text})
        for i, text in enumerate(texts)
    ]  # fmt: skip


def offline_flagged(tmp_path: Path, events: list[bytes]) -> set[str]:
    """What `screener scan` flags for the same events (the offline path)."""
    path = tmp_path / f"events-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_bytes(b"\n".join(events) + b"\n")
    out = subprocess.run(
        [sys.executable, "-m", "screener", "scan", "--rules", str(PACK), str(path)],
        capture_output=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    return {v["event_id"] for v in map(orjson.loads, out.splitlines()) if v["flagged"]}


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        futures = []
        for value in values:
            try:
                key = orjson.loads(value)["user"]["id"].encode()
            except (orjson.JSONDecodeError, KeyError, TypeError):
                key = b"broken"
            futures.append(await producer.send(topic, value, key=key, headers=[("src", b"it")]))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Collector:
    """Reads a topic from the beginning in the background of a test (its own consumer)."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None,
        )  # fmt: skip
        self.records: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []

    async def __aenter__(self) -> Collector:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def until(self, done: object, timeout: float, what: str) -> None:
        """Poll until `done()` holds, failing with `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        assert callable(done)
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}")
            batch = await self.consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    self.records.append((r.key, r.value, {k: bytes(v) for k, v in r.headers}))

    def ids(self) -> set[str]:
        return {orjson.loads(value)["event_id"] for _, value, _ in self.records}


class Service:
    """`python -m screener run …` as a real process."""

    def __init__(self, bootstrap: str, topics: dict[str, str], group: str, *extra: str):
        self.argv = [
            sys.executable, "-m", "screener", "run", "--bootstrap-servers", bootstrap,
            "--input-topics", topics["input"], "--review-topic", topics["review"],
            "--dlq-topic", topics["dlq"], "--group-id", group, "--rules", str(PACK),
            "--topic-partitions", "3", "--shutdown-timeout-s", "10",
            "--session-timeout-ms", "6000", "--heartbeat-interval-ms", "1000", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self.proc = subprocess.Popen(self.argv, stderr=subprocess.PIPE, cwd=ROOT)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for s in started:
        s.close()


async def new_topics(create_topic: Any, bootstrap: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {"input": f"in-{tag}", "review": f"review-{tag}", "dlq": f"dlq-{tag}"}
    for name in names.values():
        await create_topic(bootstrap, 3, name)
    return names


async def test_online_review_topic_equals_offline_scan_and_dlq_gets_every_bad_record(
    broker: BrokerProcess, tmp_path: Path, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = broker.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    events = make_events(20_000, "ev")
    expected = offline_flagged(tmp_path, events)
    assert 500 < len(expected) < 5_000  # a real minority is flagged
    await produce(bootstrap, topics["input"], events[:10_000] + MALFORMED + events[10_000:])
    services.append(Service(bootstrap, topics, f"g-{uuid.uuid4().hex[:6]}").start())
    async with Collector(bootstrap, topics["review"]) as review, \
            Collector(bootstrap, topics["dlq"]) as dlq:  # fmt: skip
        await review.until(lambda: review.ids() >= expected, 240, "every flagged id")
        await dlq.until(lambda: len(dlq.records) >= len(MALFORMED), 60, "every bad record")
    assert review.ids() == expected
    key, value, headers = review.records[0]
    item = orjson.loads(value)
    assert key == item["event_id"].encode()
    assert item["event"]["id"] == item["event_id"] and item["flagged"]
    assert headers["screener-category"] == item["category"].encode()
    assert headers["screener-rules-version"].startswith(b"sha256:")
    assert sorted(v for _, v, _ in dlq.records) == sorted(MALFORMED)
    for _key, _value, headers in dlq.records:
        assert headers["src"] == b"it"  # original headers kept
        assert headers["screener-source-topic"] == topics["input"].encode()
        assert int(headers["screener-source-offset"]) >= 0
        assert headers["screener-error"].split(b":")[0] in (b"bad_json", b"bad_utf8", b"not_object",
                                                           b"schema")  # fmt: skip
    assert services[0].stop() == 0  # SIGTERM: drains, commits, exits cleanly


async def test_kill_9_mid_stream_then_restart_loses_nothing(
    broker: BrokerProcess, tmp_path: Path, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = broker.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group = f"g-{uuid.uuid4().hex[:6]}"
    events = make_events(20_000, "k9", seed=5)
    expected = offline_flagged(tmp_path, events)
    await produce(bootstrap, topics["input"], events[:10_000])
    first = Service(bootstrap, topics, group, "--batch-max-records", "200").start()
    services.append(first)
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: len(review.records) > 50, 120, "the first review items")
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        await produce(bootstrap, topics["input"], events[10_000:])
        services.append(Service(bootstrap, topics, group).start())
        await review.until(lambda: review.ids() >= expected, 240, "every flagged id after kill")
    assert review.ids() == expected  # duplicates allowed, losses not


async def test_two_workers_one_leaves_its_partitions_move(
    broker: BrokerProcess, tmp_path: Path, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = broker.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group = f"g-{uuid.uuid4().hex[:6]}"
    events = make_events(20_000, "tw", seed=9)
    expected = offline_flagged(tmp_path, events)
    services.extend(
        Service(bootstrap, topics, group, "--batch-max-records", "100").start() for _ in range(2)
    )
    await produce(bootstrap, topics["input"], events[:5_000])
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: len(review.records) > 20, 120, "the first review items")
        assert services[0].stop() == 0  # leaves the group cleanly
        await produce(bootstrap, topics["input"], events[5_000:])
        await review.until(lambda: review.ids() >= expected, 240, "every flagged id")
    assert review.ids() == expected


@pytest.mark.skipif(sys.platform != "linux", reason="process signals as on Linux")
def test_supervisor_restarts_a_killed_worker(tansu: BrokerProcess) -> None:
    topics = {"input": f"in-{uuid.uuid4().hex[:6]}", "review": "r-sup", "dlq": "d-sup"}
    service = Service(tansu.bootstrap_servers, topics, "g-sup", "--workers", "2").start()
    try:
        assert service.proc is not None
        parent = service.proc.pid
        deadline = time.monotonic() + 60
        children: list[int] = []
        while len(children) < 2:
            assert time.monotonic() < deadline, "workers did not start"
            children = _children(parent)
            time.sleep(0.1)  # poll interval inside the deadline
        os.kill(children[0], signal.SIGKILL)
        while True:
            now = _children(parent)
            if len(now) == 2 and children[0] not in now:
                break
            assert time.monotonic() < deadline, f"worker not restarted: {now}"
            time.sleep(0.1)  # poll interval inside the deadline
        assert service.stop(timeout=60) == 0
    finally:
        service.close()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]
