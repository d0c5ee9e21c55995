"""Helpers for the behaviour-state integration tests: bursts of posts from one new account,
users chosen per partition, `screener run` with the shipped behaviour pack, and what the
review topic says per user. Imported as `state_support` (like `pipeline_support`)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import urllib.request
import uuid

import orjson
import pytest
from pipeline_support import ROOT, Collector, Service, TransactionGap, partitions_of, until

from screener.brokers._process import free_port
from screener.kafka import KafkaError, make_admin, murmur2

PACKS = ROOT / "screener" / "packs"
SHIPPED = ("--rules", f"{PACKS / 'common.yaml'},{PACKS / 'behaviour.yaml'}")
"""the shipped behaviour pack (and the macros it uses): `porn.image_flood_window` trips on a
new account's 101st image within an hour."""
VOLUME_RULE = "porn.image_flood_window"
T0 = 1_724_515_200_000


def user_on(partition: int, partitions: int, tag: str) -> str:
    """A user id the producer's default partitioner puts on `partition`."""
    for n in range(10_000):
        uid = f"new-{tag}-{n}"
        if (murmur2(uid.encode()) & 0x7FFFFFFF) % partitions == partition:
            return uid
    raise AssertionError("no user id found")


def post(user: str, i: int, *, age_days: int = 1, every_s: int = 5) -> bytes:
    """Image post number `i` of `user` (event time: `every_s` apart)."""
    return orjson.dumps({
        "kind": "microblog", "id": f"{user}-{i}", "ts": T0 + i * every_s * 1000,
        "user": {"id": user, "account_age_days": age_days, "followers": 2},
        "text": "", "media": [{"type": "image"}],
    })  # fmt: skip


def established(n: int, tag: str) -> list[bytes]:
    """One image post each from `n` old accounts: never flagged by volume."""
    return [post(f"old-{tag}-{k}", 0, age_days=900) for k in range(n)]


def service(bootstrap: str, topics: dict[str, str], group: str, *extra: str) -> Service:
    """`screener run` with the shipped behaviour pack instead of the test pack."""
    svc = Service(bootstrap, topics, group, *extra)
    at = svc.argv.index("--rules")
    del svc.argv[at : at + 2]
    svc.argv += SHIPPED
    return svc


def flagged_by(collector: Collector, rule: str = VOLUME_RULE) -> dict[str, list[int]]:
    """user → post numbers flagged by `rule`, sorted (review items are keyed by event id, so
    they arrive spread over the review topic's partitions)."""
    out: dict[str, list[int]] = {}
    for _, value, _ in collector.records:
        item = orjson.loads(value)
        if any(f["rule"] == rule for f in item["findings"]):
            user, _, n = item["event_id"].rpartition("-")
            out.setdefault(user, []).append(int(n))
    return {user: sorted(ns) for user, ns in out.items()}


def metric(port: int, name: str) -> float:
    """A metric's summed value from a worker's /metrics (0 if absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
        and line[len(name)] in " {"
    )  # fmt: skip


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """Records of `topic` (fresh: offsets from 0) the group has committed, over partitions."""
    admin = make_admin({"bootstrap_servers": bootstrap})
    await admin.start()
    try:
        parts = await partitions_of(bootstrap, topic)
        offsets = await admin.list_consumer_group_offsets(group, partitions=parts)
        return sum(max(0, o.offset) for o in offsets.values() if o is not None)
    finally:
        await admin.close()


async def until_committed(bootstrap: str, group: str, topic: str, n: int, timeout: float) -> None:
    """Poll until the group has committed exactly the `n` records produced so far (counted
    from our own produce calls: Tansu reports end offsets short)."""
    deadline = time.monotonic() + timeout
    done = 0
    while True:
        try:  # Kafka: the group's coordinator may not be elected yet
            done = await committed(bootstrap, group, topic)
        except KafkaError:
            done = 0
        if done >= n:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"group {group} committed {done} of {n} records after {timeout}s")
        await asyncio.sleep(0.2)  # poll interval inside the deadline
    assert done == n, f"committed {done} offsets for {n} records"


def tag() -> str:
    return uuid.uuid4().hex[:8]


__all__ = ["free_port", "until"]


async def kill_inside_a_transaction(svc: Service, bootstrap: str, topic: str) -> None:
    """SIGSTOP the worker until it is caught with a transaction open on `topic` (records
    written, not committed, and staying so while it is frozen), then SIGKILL it there."""
    assert svc.proc is not None
    pid = svc.proc.pid
    rng = random.Random(1)
    deadline = time.monotonic() + 120
    async with TransactionGap(bootstrap, topic) as open_records:
        while time.monotonic() < deadline:
            assert svc.alive(), svc.stderr()[-3000:]
            os.kill(pid, signal.SIGSTOP)
            frozen_until = time.monotonic() + 0.5  # a commit already sent settles well before
            while await open_records() > 0:
                if time.monotonic() > frozen_until:
                    os.kill(pid, signal.SIGKILL)
                    assert svc.wait(10) == -signal.SIGKILL
                    return
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(rng.uniform(0.0, 0.05))  # jitter: freeze elsewhere next time
    pytest.fail("never caught the worker inside a transaction")
