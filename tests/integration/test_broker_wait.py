"""`screener run` started before its broker: it waits (backoff, one line per attempt, /readyz
and a metric say so), then works once the broker appears; with `--connect-timeout-s` it gives
up with one line and a non-zero exit.

Every wait is a poll bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from pipeline_support import (
    Collector,
    Service,
    http_get,
    make_events,
    offline_flagged,
    partitions_of,
    produce,
    until,
)

from screener.brokers import EmbeddedBroker
from screener.brokers._process import free_port

NO_TOPICS = {"input": "in-wait", "review": "review-wait", "dlq": "dlq-wait"}


async def test_run_waits_for_a_broker_that_appears_later(
    tmp_path: Path, services: list[Service]
) -> None:
    port, metrics_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{port}"
    metrics = f"http://127.0.0.1:{metrics_port}"
    # the service's topics are created once the broker is up (--create-topics, the default)
    topics = {k: f"{v}-{port}" for k, v in NO_TOPICS.items()}
    service = Service(bootstrap, topics, "g-wait", "--metrics-port", str(metrics_port)).start()
    services.append(service)
    attempts = re.compile(r"connecting to Kafka at .* failed \(attempt (\d+)")
    until(lambda: len(attempts.findall(service.stderr())) >= 2 or not service.alive(), 60,
          "two logged attempts")  # fmt: skip
    assert service.alive(), service.stderr()
    found = [int(n) for n in attempts.findall(service.stderr())]
    assert found == list(range(1, len(found) + 1))  # one line per attempt, none repeated
    code, why = http_get(metrics + "/readyz")
    assert code == 503 and "waiting for Kafka" in why, why
    _, body = http_get(metrics + "/metrics")
    assert re.search(r"^screener_broker_connect_failures_total [1-9]", body, re.M), body[-2000:]

    events = make_events(400, "bw", seed=5)
    expected = offline_flagged(tmp_path, events)
    with EmbeddedBroker(port=port):
        await _until_topic(bootstrap, topics["input"], service)  # created by the service
        await produce(bootstrap, topics["input"], events)
        async with Collector(bootstrap, topics["review"]) as review:
            await review.until(lambda: review.ids() >= expected, 120, "the flagged ids")
        assert review.ids() == expected
        until(lambda: http_get(metrics + "/readyz")[0] == 200, 60, "/readyz ready")
        assert service.stop() == 0, service.stderr()
    assert "Traceback" not in service.stderr()


async def _until_topic(bootstrap: str, topic: str, service: Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await partitions_of(bootstrap, topic)
            return
        except LookupError:
            if time.monotonic() > deadline or not service.alive():
                pytest.fail(f"the service did not create {topic}:\n{service.stderr()}")
            await asyncio.sleep(0.2)  # poll interval inside the deadline


def test_run_gives_up_after_the_connect_timeout_with_one_line(services: list[Service]) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    service = Service(bootstrap, NO_TOPICS, "g-none", "--connect-timeout-s", "2",
                      "--metrics-port", "0").start()  # fmt: skip
    services.append(service)
    started = time.monotonic()
    code = service.wait(60)
    err = service.stderr()
    assert code != 0 and time.monotonic() - started < 30
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no Kafka broker answered at " + bootstrap in errors[0], err
    assert "within 2s" in errors[0]


def test_workers_that_give_up_waiting_are_not_restarted(services: list[Service]) -> None:
    """Under `--workers 2` a worker that gave up is final: the supervisor stops the other and
    exits with the worker's code instead of restarting it until its restart budget runs out."""
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    service = Service(bootstrap, NO_TOPICS, "g-none2", "--connect-timeout-s", "2",
                      "--workers", "2", "--metrics-port", "0").start()  # fmt: skip
    services.append(service)
    code = service.wait(90)
    err = service.stderr()
    assert code == 3, err
    assert "restarting" not in err and "Traceback" not in err
    assert "no Kafka broker answered in time" in err
