"""The pipeline benchmark's paced feeder, run as a process of its own.

Why a process: fed from the benchmark's own event loop (which also reads the output topic), the
feed fell short of the asked rate on a busy host, so the latency figure was not taken at the
rate it claimed. Here the feeder has an interpreter to itself and does nothing but produce.

The traffic is the one generator's (`synthetic.corpus`), paced and batched by the traffic
tools (`traffic.pacing.pump`, `traffic.sender.BatchSender`). Every record is stamped with the
wall-clock time it was due on the schedule (`pump(stamp_due=True)`; the time it is queued if
that is earlier): that stamp is the record's Kafka timestamp, and the list of stamps (event id
`{prefix}-{i}` ↔ stamp i) is written to `--stamps` as little-endian int64 milliseconds, so the
benchmark measures record → review from when the record was to be produced. Stamped when
queued, the records this loop sent late (its producer waiting on a slow broker) hid that
wait: 2026-12-03, with the 1-worker screener contender on a 2-core host, the feed fell up to
~300 ms behind its schedule at its start, and the p99 counted from due times was 1.7× and 3.4×
the one counted from queueing in two such runs (1.2× for the minimal loop). The summary says
how far behind the feed fell (`behind_p99_ms`, `behind_max_ms`).

Protocol with the parent (no sleeps): the feeder prints `ready` once its producer is connected
and the topic's metadata known, waits for a line on stdin, feeds, then prints one JSON line
(sent, errors, seconds, per_s, behind_p99_ms, behind_max_ms) and exits.

    python -m screener.measure.feed BOOTSTRAP TOPIC --rate R --count N --stamps FILE
"""

from __future__ import annotations

import argparse
import array
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from screener.kafka import make_producer
from screener.synthetic import corpus
from screener.traffic.pacing import Outbound, Pace, Pacer, pump
from screener.traffic.replay import producer_options
from screener.traffic.sender import BatchSender

FLAGGED_SHARE = 0.05
FLUSH_EVERY_S = 0.005
"""partly filled batches go out at least this often: the stamp is taken at queueing, so time a
record waits in the feeder counts against the contender."""


def event(i: int, text: str, prefix: str) -> bytes:
    """The benchmark's chat event (also the backlog's): event id `{prefix}-{i}`."""
    body: dict[str, Any] = {"kind": "chat", "id": f"{prefix}-{i}", "ts": 1_700_000_000_000 + i,
                            "user": {"id": f"u{i % 9973}"}, "text": text}  # fmt: skip
    return orjson.dumps(body)


def key(i: int) -> bytes:
    return f"u{i % 9973}".encode()


def index_of(event_id: object, prefix: str) -> int | None:
    """i of an event id `{prefix}-{i}`, else None."""
    if not isinstance(event_id, str) or not event_id.startswith(prefix + "-"):
        return None
    tail = event_id[len(prefix) + 1 :]
    return int(tail) if tail.isdigit() else None


def _records(topic: str, texts: Sequence[str], prefix: str) -> Iterator[Outbound]:
    for i, text in enumerate(texts):
        yield topic, key(i), event(i, text, prefix), [], None, None


async def feed(
    bootstrap: str, topic: str, rate: float, count: int, stamps: Path, *, prefix: str = "p",
    seed: int = 19,
) -> dict[str, Any]:  # fmt: skip
    texts = corpus.messages(count, seed=seed, violating_share=FLAGGED_SHARE)
    producer = make_producer(producer_options(bootstrap, acks="all"))
    await producer.start()
    try:
        sender = BatchSender(producer)
        await sender.partition_count(topic)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        sent = array.array("q", bytes(8 * count))
        late = array.array("q", bytes(8 * count))  # ms each record was queued after its stamp
        wall = time.time

        def on_sent(index: int, stamp: int) -> None:
            sent[index] = stamp
            late[index] = int(wall() * 1000) - stamp

        pacer = Pacer(Pace(rate=rate))
        queued = await pump(_records(topic, texts, prefix), sender, pacer, on_sent=on_sent,
                            flush_every=FLUSH_EVERY_S, stamp_due=True)  # fmt: skip
        fed_s = time.monotonic() - pacer.start
        await sender.drain(timeout=60)
    finally:
        await producer.stop()
    if sys.byteorder != "little":
        sent.byteswap()
    stamps.write_bytes(sent.tobytes())
    behind = sorted(late[:queued])
    return {"sent": sender.stats.acked, "queued": queued, "errors": sender.stats.errors,
            "seconds": round(fed_s, 3), "per_s": round(queued / max(fed_s, 1e-9), 1),
            "behind_p99_ms": behind[int(0.99 * (len(behind) - 1))] if behind else 0,
            "behind_max_ms": behind[-1] if behind else 0}  # fmt: skip


def read_stamps(path: Path) -> array.array[int]:
    stamps = array.array("q")
    stamps.frombytes(path.read_bytes())
    if sys.byteorder != "little":
        stamps.byteswap()
    return stamps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m screener.measure.feed")
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("--rate", type=float, required=True, help="records/s")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--stamps", type=Path, required=True, help="file for the send stamps")
    parser.add_argument("--prefix", default="p", help="event ids are PREFIX-i")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args(argv)
    from screener.runtime import install_service_loop

    install_service_loop()
    summary = asyncio.run(feed(args.bootstrap, args.topic, args.rate, args.count, args.stamps,
                               prefix=args.prefix, seed=args.seed))  # fmt: skip
    sys.stdout.buffer.write(orjson.dumps(summary) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
