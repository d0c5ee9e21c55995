"""The one backoff helper: capped exponential delays with jitter, attempts reported, limits."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from screener.kafka import Backoff, retry
from screener.metrics import Metrics, readiness


def test_delays_double_up_to_the_cap_with_jitter_below_each_step() -> None:
    plain = Backoff(initial=0.5, cap=4.0, jitter=False)
    assert [plain.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = Backoff(initial=0.5, cap=4.0, rng=random.Random(1))
    delays = [jittered.next_delay() for _ in range(200)]
    steps = [min(4.0, 0.5 * 2**i) for i in range(200)]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert len(set(delays)) > 150  # not lock-step: N workers restarted together spread out


async def test_retry_reports_every_attempt_and_returns_once_it_works() -> None:
    calls: list[int] = []
    seen: list[tuple[int, str]] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionRefusedError("not yet")
        return "up"

    result = await retry(
        flaky, "probe", retry_on=(OSError,), backoff=Backoff(initial=0.001, cap=0.004),
        on_attempt=lambda n, exc: seen.append((n, str(exc))),
    )  # fmt: skip
    assert result == "up" and len(calls) == 4
    assert seen == [(1, "not yet"), (2, "not yet"), (3, "not yet")]


async def test_retry_gives_up_after_its_timeout_with_the_last_error() -> None:
    async def never() -> None:
        raise ConnectionRefusedError("down")

    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError, match="down"):
        await retry(never, "probe", retry_on=(OSError,), timeout_s=0.3,
                    backoff=Backoff(initial=0.05, cap=0.1))  # fmt: skip
    assert 0.25 <= time.monotonic() - started < 2


async def test_retry_stops_when_asked_and_does_not_retry_other_errors() -> None:
    stop = asyncio.Event()
    stop.set()

    async def down() -> None:
        raise ConnectionRefusedError("down")

    with pytest.raises(ConnectionRefusedError):
        await retry(down, "probe", retry_on=(OSError,), stop=stop)

    async def refused() -> None:
        raise ValueError("a refusal, not an outage")

    with pytest.raises(ValueError):
        await retry(refused, "probe", retry_on=(OSError,))


def test_readyz_says_the_worker_is_waiting_for_kafka_and_the_metric_counts_attempts() -> None:
    metrics = Metrics()
    r = metrics.registry
    metrics.rules_loaded("sha256:x")
    for attempt in (1, 2, 3):
        metrics.connecting(attempt, "KafkaConnectionError")
    ok, why = readiness(r, [0])
    assert not ok and "worker 0 waiting for Kafka (3 failed attempts)" in why
    assert r.get_sample_value("screener_broker_connect_failures_total") == 3
    metrics.connected(True)
    assert r.get_sample_value("screener_broker_connect_attempts", {"worker": "0"}) == 0
    assert "waiting for Kafka" not in readiness(r, [0])[1]
