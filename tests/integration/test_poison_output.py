"""Output the broker refuses for good must not stop a partition (Apache Kafka, broker defaults).

A flagged event of ~950 kB (under the 1 MB input limit) makes a review item of ~1.5 MB (the
event plus its matches), more than Kafka's default `message.max.bytes` (1 MiB). It must reach
the DLQ in a form that fits — where it came from, the verdict, the event cut and marked so —
be counted, and the partition's commits must move on past it.

Every wait is a poll bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from pipeline_support import (
    Collector,
    Service,
    make_events,
    new_topics,
    offline_flagged,
    produce,
    until_caught_up,
)

from screener.brokers import ApacheKafka, free_port

BROKER_DEFAULT_MAX = 1_048_588


def big_flagged_event(event_id: str) -> bytes:
    text = "约炮加微信 " * 57_000  # ~912 kB of text, keywords throughout
    event = orjson.dumps({"kind": "chat", "id": event_id, "ts": 1_700_000_000_000,
                          "user": {"id": "u-big"}, "text": text})  # fmt: skip
    assert 900_000 < len(event) < 1_000_000
    return event


async def test_a_review_item_too_large_for_the_broker_goes_to_the_dlq_and_commits_move_on(
    apache_kafka: ApacheKafka, tmp_path: Path, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = apache_kafka.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap, partitions=1)
    before, after = make_events(300, "pb", seed=5), make_events(500, "pa", seed=6)
    big = big_flagged_event("poison-big")
    expected = offline_flagged(tmp_path, before + after)
    assert offline_flagged(tmp_path, [big]) == {"poison-big"}
    # one partition, so the big record sits between the others in one offset sequence
    await produce(bootstrap, topics["input"], [*before, big, *after],
                  max_request_size=2 * 1024 * 1024)  # fmt: skip
    port = free_port()
    service = Service(bootstrap, topics, "g-poison", "--metrics-port", str(port)).start()
    services.append(service)
    async with Collector(bootstrap, topics["review"]) as review, \
            Collector(bootstrap, topics["dlq"]) as dlq:  # fmt: skip
        await review.until(lambda: review.ids() >= expected, 120, "every other flagged id")
        # before the fix: the commits stopped at the big record's offset, for good
        await until_caught_up(bootstrap, "g-poison", topics["input"], 60)
        await dlq.until(lambda: len(dlq.records) >= 1, 30, "the refused review item")
    assert "poison-big" not in review.ids()
    ((key, value, headers),) = dlq.records
    assert key == b"poison-big"
    assert len(value) < 128 * 1024, "the DLQ form must fit any broker's default limit"
    assert headers["screener-error"].startswith(b"output_refused:")
    assert headers["screener-source-topic"] == topics["input"].encode()
    assert headers["screener-source-partition"] == b"0"
    assert headers["screener-source-offset"] == b"300"
    item = orjson.loads(value)
    assert item["refused"]["topic"] == topics["review"]
    assert item["refused"]["bytes"] > BROKER_DEFAULT_MAX
    assert item["source"] == {"topic": topics["input"], "partition": 0, "offset": 300}
    assert item["verdict"]["event_id"] == "poison-big" and item["verdict"]["flagged"]
    assert item["verdict"]["action"] in ("review", "block")
    assert item["event"]["truncated"] is True
    assert item["event"]["bytes"] == len(big)
    assert big.decode().startswith(item["event"]["head"])
    # metrics are written out at most every flush interval and on the worker's 1 s tick:
    # poll them with a deadline rather than read once right after the commit
    deadline, refused = time.monotonic() + 15, []
    while time.monotonic() < deadline:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        refused = [
            line
            for line in metrics.decode().splitlines()
            if line.startswith("screener_dlq_records_total{") and 'reason="output_refused"' in line
        ]
        if refused and float(refused[0].rsplit(" ", 1)[1]) >= 1.0:
            break
        await asyncio.sleep(0.2)  # poll interval inside the deadline
    assert refused and float(refused[0].rsplit(" ", 1)[1]) == 1.0, refused
    assert service.stop(signal.SIGTERM) == 0, service.stderr()
    stderr = service.stderr()
    assert "Traceback" not in stderr
    assert "unacknowledged output" not in stderr
