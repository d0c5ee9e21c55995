"""Delivery's sends on a real broker: changelog records (`Placed`: for a set partition) go as
record batches built by the service, the rest one by one; every record arrives once, where it
was addressed, in order, with its key and value (tombstones too)."""

from __future__ import annotations

import asyncio

from screener.brokers import BrokerProcess
from screener.kafka import ensure_topics
from screener.kafka.changelog import read_to_end
from screener.kafka.clients import changelog_batches, start_producer, worker_producer_options
from screener.observe import NullObserver
from screener.pipeline.delivery import Health, produce_all, send_all
from screener.pipeline.records import Outgoing, Placed
from screener.pipeline.settings import Settings


def _outgoing(review: str) -> list[Outgoing]:
    return [
        Outgoing(review, f"e{i}".encode(), b"review %d" % i, [("h", b"%d" % i)]) for i in range(20)
    ]


def _placed(log: str) -> list[Placed]:
    # ~100 kB for partition 2: more than one 4 kB record batch; tombstones among them
    records = [
        (b"u%d" % i, None if i % 97 == 5 else bytes([i % 251]) * (50 + i % 300)) for i in range(400)
    ]
    return [Placed(log, 2, records), Placed(log, 0, [(b"t-other", b"x" * 10)])]


def test_changelog_records_go_as_batches_and_arrive_in_order(broker: BrokerProcess) -> None:
    bootstrap = broker.bootstrap_servers
    settings = Settings(
        bootstrap_servers=bootstrap, changelog_batch_bytes=4096, changelog_compression="lz4"
    )
    batches = changelog_batches(settings, transactional=False)
    options = {"bootstrap_servers": bootstrap}
    log, review = f"sa-log-{id(settings):x}", f"sa-review-{id(settings):x}"

    async def run() -> None:
        await ensure_topics(options, [log, review], 3, wait_s=30)
        stop = asyncio.Event()
        producer = await start_producer(worker_producer_options(settings), stop)
        try:
            outgoing, placed = _outgoing(review), _placed(log)
            sent = await send_all(producer, outgoing, batches, placed)
            await asyncio.gather(*(future for future, _ in sent))
            # one future per review record, first; few for the 401 changelog records
            assert [items for _, items in sent][:20] == outgoing
            chunks = [items for _, items in sent[20:]]
            assert all(isinstance(c, Placed) for c in chunks) and 2 < len(chunks) < 100
            # produce_all (the service's path, with retries) on the same records again
            await produce_all(
                producer, outgoing, stop, NullObserver(), Health(), "dlq", 5.0, batches, placed
            )
        finally:
            await producer.stop()
        parts = [(log, 0), (log, 1), (log, 2), (review, 0), (review, 1), (review, 2)]
        found = await read_to_end(options, parts, read_committed=False, timeout_s=60)
        assert found[log, 2] == _placed(log)[0].records * 2
        assert found[log, 0] == [(b"t-other", b"x" * 10)] * 2
        assert found[log, 1] == []
        reviews = sorted(found[review, 0] + found[review, 1] + found[review, 2])
        assert reviews == sorted([(f"e{i}".encode(), b"review %d" % i) for i in range(20)] * 2)

    asyncio.run(run())
