"""`screener run` against real brokers over TCP: online agrees with offline, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from pipeline_support import (
    MALFORMED,
    Collector,
    Service,
    produce,
    scenario,
)

from screener.brokers import BrokerProcess


async def test_online_review_topic_equals_offline_scan_and_dlq_gets_every_bad_record(
    broker: BrokerProcess, tmp_path: Path, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = broker.bootstrap_servers
    topics, group, events, expected = await scenario(
        topic_factory, bootstrap, tmp_path, 20_000, "ev"
    )
    assert 500 < len(expected) < 5_000  # a real minority is flagged
    await produce(bootstrap, topics["input"], events[:10_000] + MALFORMED + events[10_000:])
    services.append(Service(bootstrap, topics, group).start())
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
    topics, group, events, expected = await scenario(
        topic_factory, bootstrap, tmp_path, 20_000, "k9", seed=5
    )
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
    topics, group, events, expected = await scenario(
        topic_factory, bootstrap, tmp_path, 20_000, "tw", seed=9
    )
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
