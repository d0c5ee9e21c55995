"""Delivery's sends on a real broker: records for a set partition (changelog records) go as
record batches built by the service, the rest one by one; every record arrives once, where it
was addressed, in order, with its key, value (tombstones too) and headers."""

from __future__ import annotations

import asyncio

from screener.brokers import BrokerProcess
from screener.kafka import ensure_topics
from screener.kafka.changelog import read_to_end
from screener.kafka.clients import start_producer, worker_producer_options
from screener.observe import NullObserver
from screener.pipeline.delivery import Health, produce_all, send_all
from screener.pipeline.records import Outgoing
from screener.pipeline.settings import Settings


def _outgoing(log: str, review: str) -> list[Outgoing]:
    out = [
        Outgoing(review, f"e{i}".encode(), b"review %d" % i, [("h", b"%d" % i)]) for i in range(20)
    ]
    for i in range(400):  # ~100 kB for partition 2: more than one 4 kB record batch
        value = None if i % 97 == 5 else bytes([i % 251]) * (50 + i % 300)
        out.append(Outgoing(log, b"u%d" % i, value, [], partition=2))
    out.append(Outgoing(log, b"t-other", b"x" * 10, [("why", b"headers kept")], partition=0))
    return out


def test_changelog_records_go_as_batches_and_arrive_in_order(broker: BrokerProcess) -> None:
    bootstrap = broker.bootstrap_servers
    settings = Settings(bootstrap_servers=bootstrap, max_batch_bytes=4096, compression="lz4")
    options = {"bootstrap_servers": bootstrap}
    log, review = f"sa-log-{id(settings):x}", f"sa-review-{id(settings):x}"

    async def run() -> None:
        await ensure_topics(options, [log, review], 3, wait_s=30)
        stop = asyncio.Event()
        producer = await start_producer(worker_producer_options(settings), stop)
        try:
            outgoing = _outgoing(log, review)
            sent = await send_all(producer, outgoing)
            await asyncio.gather(*(future for future, _ in sent))
            # one future per review record, few for the 401 changelog records
            assert sum(len(items) for _, items in sent) == len(outgoing)
            batches = [items for _, items in sent if items[0].topic == log]
            assert 2 < len(batches) < 100
            assert [o for _, items in sent for o in items][:20] == outgoing[:20]  # review first
            # produce_all (the service's path, with retries) on the same records again
            await produce_all(producer, outgoing, stop, NullObserver(), Health(), "dlq", 5.0)
        finally:
            await producer.stop()
        parts = [(log, 0), (log, 1), (log, 2), (review, 0), (review, 1), (review, 2)]
        found = await read_to_end(options, parts, read_committed=False, timeout_s=60)
        want = [(o.key, o.value) for o in _outgoing(log, review) if o.partition == 2]
        assert found[log, 2] == want * 2
        assert found[log, 0] == [(b"t-other", b"x" * 10)] * 2
        assert found[log, 1] == []
        reviews = sorted(found[review, 0] + found[review, 1] + found[review, 2])
        assert reviews == sorted([(f"e{i}".encode(), b"review %d" % i) for i in range(20)] * 2)

    asyncio.run(run())
