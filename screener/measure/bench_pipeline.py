"""`screener bench pipeline`: the service end to end over a real broker, beside a pass-through.

Contenders, measured one after the other in the same run, on the same broker:

- **pass-through**: the worker itself with the `PassThrough` processor (same consumer and
  producer settings, same `getmany` batching, same pipelined delivery) copying every record to
  an output topic, without parsing or screening: what the client and broker alone cost.
- **screener, 1 worker** and **screener, N workers**: `screener run` as deployed (a real
  process; a supervisor over N worker processes for N > 1).

Each contender gets its own consumer group and two phases:

1. **throughput**: a backlog of `--messages` generated events (5% violating) is waiting in
   the input topic; msgs/s = records committed by the group per second, from its first
   commit to its last (process start-up and group join are not counted).
2. **latency**: events are produced at `--rate` msgs/s for `--duration` s into a fresh topic
   the contender also reads; latency = time an output record becomes visible to a consumer
   of the output topic (the review topic; pass-through: its copy topic) − the input record's
   timestamp. The rate is fixed and the same for every contender, well under capacity, so
   the percentiles show processing delay, not queueing in a backlog.

Everything shares the machine (broker, contender, this process feeding and measuring), so
absolute figures carry the machine they came from; the ratio to the pass-through and the
CPU µs per message (the contender's own processes, throughput phase) are the figures that
travel.

Measured (`screener bench pipeline`, embedded Tansu, 2-core AMD EPYC VM shared with other
jobs, 200,000 events, 5.1% flagged, shipped packs): pass-through 72–75k msgs/s (13 µs/msg),
one worker 66–68k msgs/s (14.2–14.6 µs/msg, 0.88–0.94 of the pass-through), two workers
117–125k msgs/s. What got it there from ~34k msgs/s and 28 µs/msg: freezing the start-up heap
out of the GC (`runtime.tune_gc`, −9 µs/msg), a young generation larger than what two
batches keep alive (`runtime.young_threshold`, −2 µs/msg), overlapping a batch's acks and
commit with the next batch's screening (`Worker.drain`), linger 0, one offset per partition
instead of per record, and a leaner engine (clean verdicts are made only when read). The
one-worker profile (py-spy) is then the engine ~40%, pydantic `validate_json` ~23%, event
loop and deallocation of the batch ~14%, aiokafka fetch decoding ~7%, producing the output
~5%, metrics ~3%.

Long: the two phases, the contenders' processes and the result table are one benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table

from screener.kafka import (
    Admin,
    TopicPartition,
    delete_topics,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from screener.measure.bench import machine
from screener.pipeline.settings import Settings
from screener.pipeline.transform import PassThrough
from screener.pipeline.worker import Worker
from screener.synthetic import corpus

FLAGGED_SHARE = 0.05
PHASE_TIMEOUT_S = 300.0


@dataclass
class Contender:
    name: str
    argv: list[str]
    output_topic: str
    workers: int = 1
    msgs_per_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    outputs: int = 0  # output records written for the backlog
    cpu_us_per_msg: float | None = None  # the contender's processes, throughput phase

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- the pass-through pipe ----------------------------------------------------------------------


async def _pass_through(settings: Settings, output_topic: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Worker(settings, PassThrough(output_topic)).run(stop)


def pass_through_main(argv: Sequence[str]) -> int:
    """`python -m screener.measure.bench_pipeline pass-through …` (the bench starts it)."""
    parser = argparse.ArgumentParser(prog="bench_pipeline pass-through")
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--input-topics", required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--group-id", required=True)
    args = parser.parse_args(argv)
    settings = Settings(
        bootstrap_servers=args.bootstrap_servers, input_topics=args.input_topics.split(","),
        group_id=args.group_id, create_topics=False, metrics_port=0,
    )  # fmt: skip
    from screener.runtime import install_service_loop, tune_gc, young_threshold

    install_service_loop()
    tune_gc(young_threshold(settings.batch_max_records))  # as `screener run` does
    asyncio.run(_pass_through(settings, args.output_topic))
    return 0


# -- load and measurement -----------------------------------------------------------------------


def _event(i: int, text: str, prefix: str, sent_at: float | None = None) -> bytes:
    body: dict[str, Any] = {"kind": "chat", "id": f"{prefix}-{i}", "ts": 1_700_000_000_000 + i,
                            "user": {"id": f"u{i % 9973}"}, "text": text}  # fmt: skip
    if sent_at is not None:
        body["bench_t"] = sent_at  # unknown fields are kept and ignored (Event contract)
    return orjson.dumps(body)


async def _produce_backlog(bootstrap: str, topic: str, texts: list[str]) -> None:
    producer = make_producer(
        _options(bootstrap), linger_ms=20, max_batch_size=512 * 1024, compression_type="lz4",
        acks="all",
    )  # fmt: skip
    await producer.start()
    try:
        futures = []
        for i, text in enumerate(texts):
            futures.append(
                await producer.send(topic, _event(i, text, "b"), key=f"u{i % 9973}".encode())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _options(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap}


async def _create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    await ensure_topics(_options(bootstrap), names, partitions, wait_s=60)


async def _delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    await delete_topics(_options(bootstrap), names)


async def _committed(admin: Admin, group: str, parts: list[TopicPartition]) -> int:
    offsets = await admin.list_consumer_group_offsets(group, partitions=parts)
    return sum(max(0, offsets[tp].offset) for tp in parts if tp in offsets)


async def _throughput(
    bootstrap: str, group: str, parts: list[TopicPartition], total: int, proc: Process
) -> float:
    """Commit progress of `group` over the backlog: (records − first commit) / elapsed."""
    admin = make_admin(_options(bootstrap))
    await admin.start()
    try:
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        first: tuple[float, int, float | None] | None = None
        while True:
            done = await _committed(admin, group, parts)
            now = time.perf_counter()
            if first is None and done > 0:
                first = (now, done, proc.cpu_seconds())
            if done >= total:
                assert first is not None
                if now - first[0] <= 0 or first[1] >= total:
                    raise RuntimeError("backlog consumed in one commit: use more --messages")
                cpu, cpu_first = proc.cpu_seconds(), first[2]
                if cpu is not None and cpu_first is not None:
                    proc.cpu_us_per_msg = (cpu - cpu_first) / (total - first[1]) * 1e6
                return (total - first[1]) / (now - first[0])
            proc.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name}: {done}/{total} committed after timeout")
            await asyncio.sleep(0.02)  # sampling interval, inside the deadline
    finally:
        await admin.close()


def _sent_at(value: bytes) -> float | None:
    event = orjson.loads(value)
    if "event" in event:  # a review item: verdict + the original event
        event = event["event"]
    t = event.get("bench_t")
    return float(t) if t is not None else None


async def _latency(
    bootstrap: str, contender: Contender, group: str, paced: str, texts: list[str],
    rate: float, partitions: int, proc: Process,
) -> None:  # fmt: skip
    """Feed `texts` at `rate` into `paced` while a consumer of the output topic notes, for
    every output record of those events, visible-time − record timestamp."""
    consumer = make_consumer(
        _options(bootstrap), contender.output_topic, group_id=None,
        auto_offset_reset="latest", enable_auto_commit=False, fetch_max_wait_ms=5,
    )  # fmt: skip
    producer = make_producer(_options(bootstrap), linger_ms=1, acks="all")
    await consumer.start()
    await producer.start()
    latencies = contender.latencies_ms
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise RuntimeError("output consumer got no partitions")
            await consumer.getmany(timeout_ms=50)
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolve "latest" before anything is fed

        async def collect(until: asyncio.Event) -> None:
            while not until.is_set():
                batch = await consumer.getmany(timeout_ms=50)
                seen = time.time()
                for records in batch.values():
                    for r in records:
                        t = _sent_at(r.value) if r.value else None
                        if t is not None:
                            latencies.append((seen - t) * 1000)

        finished = asyncio.Event()
        collector = asyncio.create_task(collect(finished))
        started = time.monotonic()
        futures = []
        for i, text in enumerate(texts):
            due = started + i / rate
            ahead = due - time.monotonic()
            if ahead > 0.002:
                await asyncio.sleep(ahead)  # pacing the feed, not synchronisation
            sent = time.time()
            futures.append(await producer.send(
                paced, _event(i, text, "p", sent), key=f"u{i % 9973}".encode(),
                timestamp_ms=int(sent * 1000),
            ))  # fmt: skip
        await asyncio.gather(*futures)
        # then wait until the contender has committed all of it and its output is read
        admin = make_admin(_options(bootstrap))
        await admin.start()
        try:
            parts = [TopicPartition(paced, p) for p in range(partitions)]
            deadline = time.monotonic() + PHASE_TIMEOUT_S
            while await _committed(admin, group, parts) < len(texts):
                proc.check()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{contender.name}: paced events not all committed")
                await asyncio.sleep(0.05)  # poll interval inside the deadline
        finally:
            await admin.close()
        ends = await consumer.end_offsets(list(consumer.assignment()))
        deadline = time.monotonic() + 60
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{contender.name}: output not readable to its end")
            await asyncio.sleep(0.05)  # the collector reads meanwhile
        finished.set()
        await collector
    finally:
        await producer.stop()
        await consumer.stop()


class Process:
    """A contender's process; its output goes to a temporary file shown if it dies."""

    def __init__(self, name: str, argv: list[str]):
        self.name = name
        self.cpu_us_per_msg: float | None = None
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def cpu_seconds(self) -> float | None:
        """User+system CPU of the process and its children (Linux /proc; None elsewhere)."""
        total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
        pids = [self.proc.pid]
        try:
            pids += [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
                     .read_text().split()]  # fmt: skip
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except (OSError, ValueError, IndexError):
            return None
        return total

    def tail(self) -> str:
        self._log.seek(0)
        return self._log.read()[-3000:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# -- the run ------------------------------------------------------------------------------------


async def _run(
    bootstrap: str, messages: int, workers: int, rules: Sequence[Path], rate: float,
    duration: float, console: Console,
) -> dict[str, Any]:  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    partitions = max(6, workers)
    backlog = f"bench-{tag}-in"
    texts = corpus.messages(messages, seed=17, violating_share=FLAGGED_SHARE)
    paced_texts = corpus.messages(max(1, int(rate * duration)), seed=19,
                                  violating_share=FLAGGED_SHARE)  # fmt: skip
    rules_args = ["--rules", ",".join(str(p) for p in rules)] if rules else []
    python = sys.executable
    contenders: list[Contender] = []
    plan = [("pass-through", 0), ("screener, 1 worker", 1)]
    if workers > 1:
        plan.append((f"screener, {workers} workers", workers))
    for name, n in plan:
        k = len(contenders)
        inputs = f"{backlog},bench-{tag}-paced{k}"
        out = f"bench-{tag}-out{k}"
        if n == 0:
            argv = [python, "-m", "screener.measure.bench_pipeline", "pass-through",
                    "--bootstrap-servers", bootstrap, "--input-topics", inputs,
                    "--output-topic", out, "--group-id", f"bench-{tag}-g{k}"]  # fmt: skip
        else:
            argv = [python, "-m", "screener", "run", "--bootstrap-servers", bootstrap,
                    "--input-topics", inputs, "--review-topic", out,
                    "--dlq-topic", f"bench-{tag}-dlq{k}", "--group-id", f"bench-{tag}-g{k}",
                    "--workers", str(n), "--metrics-port", "0", *rules_args]  # fmt: skip
        contenders.append(Contender(name, argv, out, workers=max(n, 1)))
    topics = [backlog] + [f"bench-{tag}-{kind}{k}" for k in range(len(contenders))
                          for kind in ("paced", "out", "dlq")]  # fmt: skip
    await _create_topics(bootstrap, topics, partitions)
    try:
        with console.status(f"producing a backlog of {messages:,} events"):
            await _produce_backlog(bootstrap, backlog, texts)
        parts = [TopicPartition(backlog, p) for p in range(partitions)]
        for k, c in enumerate(contenders):
            group = f"bench-{tag}-g{k}"
            proc = Process(c.name, c.argv)
            try:
                with console.status(f"{c.name}: throughput over the backlog"):
                    c.msgs_per_s = await _throughput(bootstrap, group, parts, messages, proc)
                c.outputs = await _end_total(bootstrap, c.output_topic, partitions)
                c.cpu_us_per_msg = proc.cpu_us_per_msg
                with console.status(f"{c.name}: latency at {rate:,.0f} msgs/s"):
                    await _latency(bootstrap, c, group, f"bench-{tag}-paced{k}", paced_texts,
                                   rate, partitions, proc)  # fmt: skip
            finally:
                proc.stop()
            console.print(f"{c.name}: {c.msgs_per_s:,.0f} msgs/s, p50 {c.percentile(0.5):.1f} ms, "
                          f"p99 {c.percentile(0.99):.1f} ms")  # fmt: skip
    finally:
        await _delete_topics(bootstrap, topics)
    base = contenders[0].msgs_per_s
    screened = contenders[1]
    flagged = screened.outputs / messages  # review items written for the backlog
    settings = Settings()
    return {
        "machine": machine(),
        "messages": messages,
        "partitions": partitions,
        "latency_rate": rate,
        "latency_duration_s": duration,
        "flagged_share": round(flagged, 4),
        "settings": {k: getattr(settings, k) for k in
                     ("batch_max_records", "linger_ms", "max_batch_bytes", "compression")},
        "contenders": [
            {"name": c.name, "workers": c.workers, "msgs_per_s": round(c.msgs_per_s),
             "p50_ms": round(c.percentile(0.5), 2), "p99_ms": round(c.percentile(0.99), 2),
             "latency_samples": len(c.latencies_ms),
             "cpu_us_per_msg": None if c.cpu_us_per_msg is None else round(c.cpu_us_per_msg, 2),
             "ratio": round(c.msgs_per_s / base, 3) if base else None}
            for c in contenders
        ],
    }  # fmt: skip


async def _end_total(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = make_consumer(_options(bootstrap))
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def bench_pipeline(
    *, bootstrap_servers: str | None, messages: int, workers: int, rules: Sequence[Path],
    rate: float, duration: float, console: Console,
) -> dict[str, Any]:  # fmt: skip
    """Run the benchmark (on an embedded Tansu broker unless `bootstrap_servers` is given),
    print the table, return the result."""
    from screener.runtime import install_service_loop

    install_service_loop()
    with contextlib.ExitStack() as stack:
        if bootstrap_servers is None:
            from screener.brokers.tansu import EmbeddedBroker

            logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            broker = stack.enter_context(EmbeddedBroker(log_path=logs / "tansu.log"))
            bootstrap, where = broker.bootstrap_servers, "embedded Tansu"
        else:
            bootstrap, where = bootstrap_servers, bootstrap_servers
        result = asyncio.run(_run(bootstrap, messages, workers, rules, rate, duration, console))
    result["broker"] = where
    _print(result, console)
    return result


def _print(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"screener bench pipeline — {result['broker']}, {result['machine']}")
    columns = ("contender", "msgs/s", "p50 ms", "p99 ms", "ratio to pass-through", "CPU µs/msg")
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for c in result["contenders"]:
        cpu = "?" if c["cpu_us_per_msg"] is None else f"{c['cpu_us_per_msg']:.1f}"
        table.add_row(c["name"], f"{c['msgs_per_s']:,}", f"{c['p50_ms']:.1f}",
                      f"{c['p99_ms']:.1f}", f"{c['ratio']:.2f}", cpu)  # fmt: skip
    if not console.is_terminal:  # a log or a pipe: no 80-column wrapping of the table
        console = Console(file=console.file, width=110)
    console.print(table)
    s = result["settings"]
    console.print(
        f"{result['messages']:,} events ({result['flagged_share']:.1%} flagged) over "
        f"{result['partitions']} partitions; latency at {result['latency_rate']:,.0f} msgs/s for "
        f"{result['latency_duration_s']:g}s; batch_max_records={s['batch_max_records']} "
        f"linger_ms={s['linger_ms']} max_batch_bytes={s['max_batch_bytes']} "
        f"compression={s['compression']}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["pass-through"]:
        sys.exit(pass_through_main(sys.argv[2:]))
    sys.exit(f"usage: {os.path.basename(sys.argv[0])} pass-through … (started by the bench)")
