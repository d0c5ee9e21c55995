"""Fault injection on Apache Kafka under a continuous stream with known verdicts.

A nemesis (Jepsen's word) injects each kind of fault at random points while a feeder keeps
sending generated events (and malformed records) at a steady rate; after each round the
checker waits for the group to catch up and states what was lost, committed ahead of its
output, or duplicated (definitions in `harness`). One run per guarantee:

- at-least-once: lost 0, committed-ahead 0, unexpected verdicts 0; duplicates counted.
- exactly-once (read_committed readers): the same, and duplicates 0.

The run writes a machine-readable summary (`SCREENER_RELIABILITY_SUMMARY`, default
`build/reliability/faults.json`) that the README's reliability table is made from
(`python tests/reliability/report.py`). `SCREENER_FAULT_SCALE=3` triples every fault count
for a longer run. Every wait is a poll bounded by a deadline; randomness is seeded
(`SCREENER_FAULT_SEED`) and the seed is in the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness import Checker, Stream, Tail, malformed, stable_members, tag
from kafka_setup import FaultKafka
from pipeline_support import Service, new_topics

from screener.brokers import ApacheKafka

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = Path(
    os.environ.get("SCREENER_RELIABILITY_SUMMARY", ROOT / "build/reliability/faults.json")
)
SCALE = float(os.environ.get("SCREENER_FAULT_SCALE", "1"))
SEED = int(os.environ.get("SCREENER_FAULT_SEED", str(random.SystemRandom().randrange(1 << 30))))
SESSION_MS = 3000
WORKER_ARGS = (
    "--session-timeout-ms", str(SESSION_MS), "--heartbeat-interval-ms", "500",
    "--batch-max-records", "200", "--metrics-port", "0", "--shutdown-timeout-s", "10",
)  # fmt: skip


def n(count: int) -> int:
    return max(1, round(count * SCALE))


@dataclass
class Run:
    """What a fault needs: the broker, the proxy, the workers of one group and the checker."""

    kafka: FaultKafka
    topics: dict[str, str]
    group: str
    guarantee: str
    stream: Stream
    checker: Checker
    rng: random.Random
    workers: list[Service] = field(default_factory=list)
    ended: list[Service] = field(default_factory=list)
    slots: dict[int, int] = field(default_factory=dict)

    @property
    def broker(self) -> ApacheKafka:
        return self.kafka.broker

    def spawn(self, slot: int | None = None) -> Service:
        """Start a worker in `slot` (default: the lowest free one). Under exactly-once each
        slot has its own transactional id, like replicas with distinct
        `--transactional-id-prefix`; a restart in the same slot fences its predecessor."""
        used = set(self.slots.values())
        slot = slot if slot is not None else min(set(range(len(used) + 1)) - used)
        prefix = ("--transactional-id-prefix", f"{self.group}-slot{slot}")
        service = Service(self.kafka.proxied, self.topics, self.group,
                          "--guarantee", self.guarantee, *prefix, *WORKER_ARGS).start()  # fmt: skip
        self.workers.append(service)
        self.slots[id(service)] = slot
        return service

    def retire(self, service: Service) -> int:
        """Take a stopped worker out of the group's list; returns its slot."""
        self.workers.remove(service)
        self.ended.append(service)
        return self.slots.pop(id(service))

    async def sigterm(self, service: Service) -> int:
        """SIGTERM must end a worker cleanly: exit 0 within its shutdown deadline, no
        traceback."""
        code = await asyncio.to_thread(service.stop, signal.SIGTERM, 30)
        slot = self.retire(service)
        assert code == 0, f"worker exited {code} on SIGTERM:\n{service.stderr()[-3000:]}"
        assert "Traceback" not in service.stderr(), service.stderr()[-3000:]
        return slot

    async def joined(self, timeout: float = 90.0) -> None:
        """Wait until every worker is a member of the settled group (so a SIGTERM reaches a
        worker at work, not one still importing)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception):
                if await stable_members(self.kafka.bootstrap, self.group) == len(self.workers):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.workers)} workers never formed a stable group")
            await asyncio.sleep(0.1)  # poll interval inside the deadline

    async def pause(self, low: float, high: float) -> None:
        await asyncio.sleep(self.rng.uniform(low, high))  # the nemesis's random point

    async def round_done(self, fault: str, since: float) -> None:
        try:
            await self.checker.recovered(fault, since)
        except AssertionError as exc:
            logs = "\n".join(f"--- worker pid {w.proc.pid if w.proc else '?'} (alive: {w.alive()})"
                             f"\n{w.stderr()[-4000:]}" for w in self.workers)  # fmt: skip
            raise AssertionError(f"{exc}\n{logs}") from None
        await self.checker.commits_not_ahead(fault, self.grace)

    @property
    def grace(self) -> float:
        return 5.0 if self.guarantee == "exactly-once" else 0.0


async def worker_kill_9(run: Run, count: int) -> None:
    """SIGKILL a worker at random points (starting, joining, mid-batch, committing), restart
    it at once; every few kills, wait for recovery."""
    since = time.monotonic()
    for i in range(count):
        await run.pause(0.3, 3.0)
        victim = run.rng.choice(run.workers)
        assert victim.alive(), victim.stderr()[-3000:]
        assert victim.proc is not None
        victim.proc.kill()
        await asyncio.to_thread(victim.wait, 10)
        slot = run.retire(victim)
        run.checker.faults["worker kill -9"].injected += 1
        await run.checker.commits_not_ahead("worker kill -9", run.grace)
        run.spawn(slot)
        since = time.monotonic()
        if i % 8 == 7 or i == count - 1:
            await run.round_done("worker kill -9", since)


async def worker_sigterm(run: Run, count: int) -> None:
    """SIGTERM at a random moment of a busy stream (a batch is in flight nearly always):
    the worker drains and commits, exits 0; its replacement continues after the commit."""
    for _ in range(count):
        await run.joined()
        await run.pause(0.2, 2.0)
        slot = await run.sigterm(run.rng.choice(run.workers))
        run.checker.faults["worker SIGTERM mid-batch"].injected += 1
        run.spawn(slot)
        await run.round_done("worker SIGTERM mid-batch", time.monotonic())


async def broker_kill_9(run: Run, count: int) -> None:
    """SIGKILL the broker (no flush, no controlled shutdown), restart it on the same data."""
    for _ in range(count):
        await run.pause(0.5, 2.0)
        await asyncio.to_thread(run.broker.kill)
        run.checker.faults["broker kill -9 + restart"].injected += 1
        await run.pause(0.5, 2.0)
        await asyncio.to_thread(run.broker.start)
        await run.round_done("broker kill -9 + restart", time.monotonic())
        assert all(w.alive() for w in run.workers), "a worker died with the broker"


async def broker_sigstop(run: Run, count: int) -> None:
    """SIGSTOP the broker for longer than the consumer session timeout, then SIGCONT: the
    group coordinator expires the members when it wakes up and they rejoin."""
    for _ in range(count):
        await run.pause(0.5, 2.0)
        run.broker.pause()
        run.checker.faults["broker SIGSTOP > session timeout"].injected += 1
        await asyncio.sleep(SESSION_MS / 1000 + run.rng.uniform(1.0, 3.0))  # the fault itself
        run.broker.resume()
        await run.round_done("broker SIGSTOP > session timeout", time.monotonic())
        assert all(w.alive() for w in run.workers), "a worker died during the pause"


async def network_cut(run: Run, count: int) -> None:
    """Cut the network between workers and broker (RST, or a blackhole that holds every
    byte), mostly briefly, every fifth time for longer than the session timeout."""
    name = "network cut worker↔broker"
    since = time.monotonic()
    for i in range(count):
        await run.pause(0.2, 1.0)
        run.kafka.proxy.cut(reset=run.rng.random() < 0.5)
        run.checker.faults[name].injected += 1
        hold = SESSION_MS / 1000 + 1.5 if i % 5 == 4 else run.rng.uniform(0.2, 1.2)
        await asyncio.sleep(hold)  # the fault itself
        run.kafka.proxy.heal()
        since = time.monotonic()
        if i % 5 == 4 or i == count - 1:
            await run.round_done(name, since)


async def scale_1_4_1(run: Run, cycles: int) -> None:
    """Scale the group from 1 to 4 workers and back (each join and leave is a rebalance)."""
    name = "scale 1 → 4 → 1 workers"
    for _ in range(cycles):
        assert len(run.workers) == 1
        for _ in range(3):
            run.spawn()
            run.checker.faults[name].injected += 1
            await run.pause(0.3, 1.5)
        await run.joined()
        await run.checker.commits_not_ahead(name, run.grace)
        await run.pause(0.5, 2.0)
        for service in run.workers[1:]:
            await run.sigterm(service)
            run.checker.faults[name].injected += 1
            await run.pause(0.3, 1.5)
        await run.round_done(name, time.monotonic())


def oversized_flagged(event_id: str) -> bytes:
    """A flagged event of ~950 kB whose review item (~1.5 MB) the broker cannot take."""
    return orjson.dumps({"kind": "chat", "id": event_id, "ts": 1_700_000_000_000,
                         "user": {"id": "u-big"}, "text": "约炮加微信 " * 57_000})  # fmt: skip


async def poison_records(run: Run, count: int) -> None:
    """Records that cannot be screened (bad JSON, bad UTF-8, deep nesting, wrong schema),
    and every fifth a flagged event whose review item is too large for the broker: each must
    reach the DLQ and none may hold back its partition."""
    for i in range(count):
        if i % 5 == 4:
            event_id = f"big-{run.group}-{i}"
            run.stream.oversized.add(event_id)
            run.stream.inject(oversized_flagged(event_id))
        else:
            run.stream.inject(malformed(10_000_000 + i))
        run.checker.faults["poison record"].injected += 1
        await run.pause(0.1, 0.5)
    await run.round_done("poison record", time.monotonic())


Fault = Callable[[Run, int], Awaitable[None]]
PLANS: dict[str, list[tuple[Fault, int]]] = {
    "at-least-once": [
        (worker_kill_9, n(16)), (worker_sigterm, n(3)), (network_cut, n(25)),
        (broker_sigstop, n(2)), (broker_kill_9, n(2)), (scale_1_4_1, n(1)),
        (poison_records, n(20)),
    ],
    "exactly-once": [
        (worker_kill_9, n(6)), (worker_sigterm, n(1)), (network_cut, n(10)),
        (broker_sigstop, n(1)), (broker_kill_9, n(1)), (scale_1_4_1, n(1)),
        (poison_records, n(10)),
    ],
}  # fmt: skip


def _write_summary(mode: str, result: dict[str, Any], run: Run, seconds: float) -> None:
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    data.setdefault("runs", {})[mode] = {
        "seed": SEED, "scale": SCALE, "seconds": round(seconds, 1), "totals": result,
        "faults": [s.summary(f, mode) for f, s in run.checker.faults.items()],
    }  # fmt: skip
    SUMMARY.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@pytest.fixture(autouse=True)
def _quiet_clients() -> Iterator[None]:
    """The feeder's and tails' clients log every refused connection during broker faults;
    that is the fault working, not news."""
    log = logging.getLogger("aiokafka")
    level = log.level
    log.setLevel(logging.CRITICAL)
    yield
    log.setLevel(level)


@pytest.mark.kafka
@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
async def test_faults_lose_nothing(
    fault_kafka: FaultKafka, tmp_path: Path, topic_factory: Any, guarantee: str,
) -> None:  # fmt: skip
    started = time.monotonic()
    rng = random.Random(f"{SEED}-{guarantee}")
    bootstrap = fault_kafka.bootstrap
    topics = await new_topics(topic_factory, bootstrap)
    # enough for the whole run at 200 events/s (the stream ends early rather than repeat ids)
    size = round((120_000 if guarantee == "at-least-once" else 70_000) * max(1.0, SCALE))
    stream = Stream(bootstrap, topics["input"], tmp_path, size, rate=200,
                    prefix=f"f{guarantee[0]}{tag()}", seed=rng.randrange(1000))  # fmt: skip
    isolation = "read_committed" if guarantee == "exactly-once" else "read_uncommitted"
    async with Tail(bootstrap, [topics["review"], topics["dlq"], topics["input"]],
                    isolation) as tail:  # fmt: skip
        checker = Checker(bootstrap, topics, f"g-{tag()}", stream, tail)
        run = Run(fault_kafka, topics, checker.group, guarantee, stream, checker, rng)
        try:
            run.spawn()
            await stream.start()
            await checker.recovered("warm-up", time.monotonic(), timeout=180)
            only = os.environ.get("SCREENER_FAULTS")  # e.g. "network_cut" while debugging
            for fault, count in PLANS[guarantee]:
                if only and fault.__name__ not in only.split(","):
                    continue
                sent_before, dup_before = stream.sent.records, checker.duplicates()
                await fault(run, count)
                name = next(reversed(checker.faults))
                checker.faults[name].records_sent += stream.sent.records - sent_before
                checker.faults[name].duplicated += checker.duplicates() - dup_before
            await stream.stop()
            await checker.recovered("final", time.monotonic())
            result = await checker.verdict(exactly_once=guarantee == "exactly-once")
            for service in list(run.workers):
                await run.sigterm(service)
        finally:
            await stream.stop()
            for service in run.workers + run.ended:
                service.close()
            fault_kafka.proxy.heal()
            fault_kafka.broker.resume()
    checker.faults.pop("warm-up", None)
    checker.faults.pop("final", None)
    _write_summary(guarantee, result, run, time.monotonic() - started)
    assert result["lost"] == 0, result
    assert result["committed_ahead"] == 0, result
    assert result["unexpected"] == 0, result
    assert result["flagged_expected"] > 100, result
    if guarantee == "exactly-once":
        assert result["duplicated"] == 0, result
    injected = sum(s.injected for s in checker.faults.values())
    assert injected >= n(30), checker.faults  # the two runs together: over 100
