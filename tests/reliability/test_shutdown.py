"""SIGTERM while the broker is down: a clean exit in one line, and nothing lost.

The worker cannot get its batch acknowledged or committed, so it must not commit it: it says
so once and exits 0 within its shutdown deadline; the batch is read again by whoever starts
next. A traceback here reads as a crash to an operator, though nothing was wrong.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from kafka_setup import FaultKafka
from pipeline_support import Collector, Service, make_events, new_topics, offline_flagged, produce

ARGS = ("--metrics-port", "0", "--shutdown-timeout-s", "5", "--batch-max-records", "100")


async def test_sigterm_during_a_broker_outage_exits_cleanly_and_loses_nothing(
    fault_kafka: FaultKafka, tmp_path: Path, topic_factory: Any
) -> None:
    broker = fault_kafka.broker
    topics = await new_topics(topic_factory, fault_kafka.bootstrap)
    events = make_events(6000, "sd", seed=21)
    expected = offline_flagged(tmp_path, events)
    first = Service(fault_kafka.proxied, topics, "g-shutdown", *ARGS).start()
    second = Service(fault_kafka.proxied, topics, "g-shutdown", *ARGS)
    try:
        await produce(fault_kafka.bootstrap, topics["input"], events[:3000])
        async with Collector(fault_kafka.bootstrap, topics["review"]) as review:
            await review.until(lambda: len(review.records) > 20, 120, "the first review items")
            await produce(fault_kafka.bootstrap, topics["input"], events[3000:])
            await asyncio.to_thread(broker.kill)  # while the second half is being screened
            await asyncio.sleep(1.0)  # the outage itself: the worker notices and retries
            began = time.monotonic()
            code = await asyncio.to_thread(first.stop, signal.SIGTERM, 60)
            took = time.monotonic() - began
            output = first.stderr()
            await asyncio.to_thread(broker.start)
            second.start()
            await review.until(lambda: review.ids() >= expected, 180, "every flagged id")
            # the first may have delivered everything before the outage: the second is stopped
            # once it serves (its handlers in place), not while Python is still starting it
            deadline = time.monotonic() + 60
            while "worker 0: " not in second.stderr():
                assert time.monotonic() < deadline, second.stderr()
                await asyncio.sleep(0.1)
        assert code == 0, output
        assert "Traceback" not in output, output
        assert took < 5 + 10, f"shutdown took {took:.1f}s with a 5s deadline"
        said = [line for line in output.splitlines() if "not committ" in line]
        assert len(said) <= 1, output
        assert review.ids() == expected
        assert second.stop() == 0, second.stderr()
    finally:
        if not broker.running:
            broker.start()
        first.close()
        second.close()
