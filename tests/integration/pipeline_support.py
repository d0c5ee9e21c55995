"""Helpers shared by the `screener run` integration tests (a module, not fixtures).

Test modules in this directory import it as `pipeline_support` (pytest puts the directory on
`sys.path`, as it does for conftest.py).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import orjson
import pytest

from screener.kafka import TopicPartition, make_admin, make_consumer, make_producer, partition_ids
from screener.synthetic import corpus

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "tests" / "unit" / "packs" / "basic.yaml"
MALFORMED = [b"{not json", b"\xff\xfe\xfd", b"[1, 2, 3]", b'{"kind": "chat", "id": "no-user"}']


def http_get(url: str) -> tuple[int, str]:
    """GET `url` as (status, body); (0, "") while nothing answers (a service still starting)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _value(check: Callable[[], Any]) -> Any:
    """`check()`, or None while what it asks cannot connect yet (OSError)."""
    try:
        return check()
    except OSError:
        return None


class _Deadline:
    def __init__(self, timeout: float, what: str):
        self.at, self.timeout, self.what = time.monotonic() + timeout, timeout, what

    def fail_if_passed(self) -> None:
        if time.monotonic() > self.at:
            pytest.fail(f"timed out after {self.timeout}s waiting for {self.what}")


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check()` until it returns a true value (returned), failing after `timeout` s."""
    deadline = _Deadline(timeout, what)
    while not (value := _value(check)):
        deadline.fail_if_passed()
        time.sleep(0.2)  # poll interval inside the deadline
    return value


async def until_async(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """`until` for async tests: `check` runs in a thread (it may do blocking HTTP), so the
    event loop (producers, collectors) keeps running between polls."""
    deadline = _Deadline(timeout, what)
    while not (value := await asyncio.to_thread(_value, check)):
        deadline.fail_if_passed()
        await asyncio.sleep(0.1)  # poll interval inside the deadline
    return value


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


async def produce(bootstrap: str, topic: str, values: list[bytes], **config: Any) -> None:
    producer = make_producer(_options(bootstrap), linger_ms=20, acks="all", **config)
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

    def __init__(
        self, bootstrap: str, topic: str,
        isolation_level: Literal["read_uncommitted", "read_committed"] = "read_uncommitted",
    ):  # fmt: skip
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer = make_consumer(
            _options(bootstrap), topic, auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None, isolation_level=isolation_level,
        )  # fmt: skip
        self.records: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []

    async def __aenter__(self) -> Collector:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self, timeout_ms: int = 200) -> None:
        batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        for records in batch.values():
            for r in records:
                self.records.append((r.key, r.value, {k: bytes(v) for k, v in r.headers}))

    async def until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll until `done()` holds, failing with `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}")
            await self.poll()

    async def drain(self, timeout: float = 60) -> None:
        """Read up to the end offsets as of now (for read_committed: the last stable offset)."""
        parts = await partitions_of(self.bootstrap, self.topic)
        ends = await self.consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while True:
            if set(parts) <= self.consumer.assignment():
                positions = {tp: await self.consumer.position(tp) for tp in parts}
                if all(positions[tp] >= end for tp, end in ends.items()):
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"could not read {self.topic} to its end in {timeout}s")
            await self.poll()

    def ids(self) -> set[str]:
        return {orjson.loads(value)["event_id"] for _, value, _ in self.records}

    def id_list(self) -> list[str]:
        return [orjson.loads(value)["event_id"] for _, value, _ in self.records]


class Service:
    """`python -m screener run …` as a real process; its stderr goes to a file (a pipe nobody
    reads would block a chatty service)."""

    def __init__(self, bootstrap: str, topics: dict[str, str], group: str, *extra: str):
        self.argv = [
            sys.executable, "-m", "screener", "run", "--bootstrap-servers", bootstrap,
            "--input-topics", topics["input"], "--review-topic", topics["review"],
            "--dlq-topic", topics["dlq"], "--group-id", group, "--rules", str(PACK),
            "--topic-partitions", "3", "--shutdown-timeout-s", "10",
            "--session-timeout-ms", "6000", "--heartbeat-interval-ms", "1000", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Service:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(self.argv, stderr=self._log, cwd=ROOT)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


async def new_topics(create_topic: Any, bootstrap: str, partitions: int = 3) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {"input": f"in-{tag}", "review": f"review-{tag}", "dlq": f"dlq-{tag}"}
    for name in names.values():
        await create_topic(bootstrap, partitions, name)
    return names


class Scenario(NamedTuple):
    """Fresh topics and group, generated events and what `screener scan` flags among them."""

    topics: dict[str, str]
    group: str
    events: list[bytes]
    expected: set[str]


async def scenario(
    create_topic: Any, bootstrap: str, tmp_path: Path, n: int, prefix: str, seed: int = 3
) -> Scenario:
    topics = await new_topics(create_topic, bootstrap)
    events = make_events(n, prefix, seed=seed)
    group = f"g-{uuid.uuid4().hex[:6]}"
    return Scenario(topics, group, events, offline_flagged(tmp_path, events))


def _options(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap}


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    found = await partition_ids(_options(bootstrap), [topic])
    return [TopicPartition(topic, p) for p in found[topic]]


async def lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of `topic` not yet committed by `group` (end offsets minus committed)."""
    admin = make_admin(_options(bootstrap))
    consumer = make_consumer(_options(bootstrap), group_id=None)
    await admin.start()
    await consumer.start()
    try:
        parts = await partitions_of(bootstrap, topic)
        ends = await consumer.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets(group, partitions=parts)
        return sum(
            end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
            for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()


async def until_caught_up(bootstrap: str, group: str, topic: str, timeout: float) -> None:
    """Poll until `group` has committed every record of `topic`."""
    deadline = time.monotonic() + timeout
    while (left := await lag(bootstrap, group, topic)) > 0:
        if time.monotonic() > deadline:
            pytest.fail(f"group {group} still {left} records behind on {topic} after {timeout}s")
        await asyncio.sleep(0.2)  # poll interval inside the deadline


class TransactionGap:
    """Records of a topic written but not yet committed: high watermark − last stable offset."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.bootstrap = bootstrap
        self.parts: list[TopicPartition] = []
        self.raw = make_consumer({"bootstrap_servers": bootstrap})
        self.stable = make_consumer(
            {"bootstrap_servers": bootstrap}, isolation_level="read_committed"
        )

    async def __aenter__(self) -> TransactionGap:
        await self.raw.start()
        await self.stable.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.raw.stop()
        await self.stable.stop()

    async def __call__(self) -> int:
        if not self.parts:
            self.parts = await partitions_of(self.bootstrap, self.topic)
        parts = self.parts
        hw = await self.raw.end_offsets(parts)
        lso = await self.stable.end_offsets(parts)
        return sum(hw[tp] - lso[tp] for tp in parts)
