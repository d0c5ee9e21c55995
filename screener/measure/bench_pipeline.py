"""`screener bench pipeline`: the service end to end over a real broker, beside yardsticks.

Contenders, fed the same backlog on the same broker, taking turns (`--rounds` times each, in
reverse order every other round so no contender always runs first or last; every ratio is
between runs of the same round):

- **minimal aiokafka loop** (`contenders/minimal_aiokafka.py`): the least a Python aiokafka
  worker does for this job — consume, `json.loads`, four substring checks, produce the hits,
  commit after the acks — written plainly, importing nothing of screener. The ceiling.
- **naive Quix Streams filter** (`contenders/quix_filter.py`), when an interpreter with
  `quixstreams` is found (`--quix-python`, `SCREENER_BENCH_QUIX_PYTHON`, or this one). Quix
  pins pydantic below what screener uses, so it lives in a venv of its own.
- **screener, 1 worker** and **screener, N workers**: `screener run` as users run it (a real
  process, shipped packs with every feature on; a supervisor over N worker processes).

Each run gets its own consumer group and two phases:

1. **throughput**: a backlog of `--messages` generated events (5% violating) is waiting in
   the input topic; msgs/s = backlog records per second, read from the output the contender
   makes visible (`measure.progress`: the output for a backlog event at offset o of a
   partition shows that partition read up to o), from its first output to its last — process
   start-up, group join and the wait for a commit interval's last commit are not counted, so
   a contender committing once a second is timed like one committing every batch. The phase
   ends when the group has committed the whole backlog.
2. **latency** (last round only): a feeder process of its own (`measure.feed`: the one
   generator's traffic, paced by the traffic tools) produces at `--latency-share` (default
   0.5) of the contender's own measured rate — or at `--rate` msgs/s for all — for
   `--duration` s into a fresh topic the contender also reads, stamping each record with the
   time it was due on the feed's schedule (so a feed held back by a slow broker counts that
   wait; `feed.py` says why; how far behind it fell is printed); latency = time the record's
   output (review item, or the contender's hit) becomes visible to a consumer of the output
   topic − that stamp (record → review), so at half the sustainable rate the percentiles
   show the processing delay, not a backlog.
   A plain consumer of the paced input (its partition 0) notes when each record becomes
   visible there too: the floor (feed → broker → consumer, no worker), `floor_p50_ms` /
   `floor_p99_ms`, taken at the same time from the same feed.

`--partitions N` (default 6, or `--workers` if more) is the topics' partition count: a worker
screens each partition of a batch against its own state, so the partitions a worker owns
set how many pieces a small (paced) batch is cut into; the Sizing section plans ~2 each.

`--sweep SETTING=V1,V2` adds a 1-worker screener contender per value of one `screener run`
setting (fetch_max_wait_ms, batch_max_records, linger_ms, compression, …), taking turns with
the rest: how a knob moves throughput and latency, measured side by side.

Everything shares the machine (broker, contender, feeder, this process measuring), so
absolute figures carry the machine they came from; the interleaved ratios and the CPU µs per
message (the contender's own processes, throughput phase) are the figures that travel.
`--broker kafka` runs Apache Kafka from the Maven jars (as the integration tests do) instead
of the embedded Tansu, its log in memory unless `--kafka-log disk` (see `bench_pipeline`).

Long: the phases, the contenders' processes and the result table are one benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import statistics
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
    KafkaError,
    TopicPartition,
    delete_topics,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from screener.measure.bench import machine
from screener.measure.feed import event, index_of, key, read_stamps
from screener.measure.progress import Progress, Rate
from screener.pipeline.settings import Settings
from screener.synthetic import corpus

FLAGGED_SHARE = 0.05
SHM = Path("/dev/shm")
SHM_MIN_FREE = 1 << 30
"""what /dev/shm must have free to hold the broker's log (containers often give /dev/shm 64 MB,
and a full log directory stops the broker)"""
PHASE_TIMEOUT_S = 300.0
PACED_PREFIX = "p"
BACKLOG_PREFIX = "b"


CONTENDERS = Path(__file__).resolve().parent / "contenders"
QUIX_PYTHON_ENV = "SCREENER_BENCH_QUIX_PYTHON"


@dataclass
class Contender:
    name: str
    argv: list[str]
    output_topic: str
    workers: int = 1
    rates: list[float] = field(default_factory=list)  # msgs/s, one per round
    timed: list[int] = field(default_factory=list)  # backlog records the rate spans, per round
    latencies_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    """the same feed's records becoming visible to a plain consumer of the input: the floor"""
    p99_by_second: list[float] = field(default_factory=list)  # of the feed's seconds
    floor_p99_by_second: list[float] = field(default_factory=list)  # the floor's, alike
    warmup_s: float = 0.0  # first event per paced partition -> committed (state restores)
    latency_rate: float = 0.0  # msgs/s asked of the paced feed
    fed_per_s: float = 0.0  # msgs/s the feed achieved
    fed_behind_ms: tuple[float, float] = (0.0, 0.0)  # p99 and max of how late records were queued
    outputs: int = 0  # output records written for the backlog (first round)
    cpu_us: list[float] = field(default_factory=list)  # the contender's processes, per round

    @property
    def msgs_per_s(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def percentile(self, q: float) -> float:
        return _quantile(self.latencies_ms, q)

    def floor(self, q: float) -> float:
        return _quantile(self.floor_ms, q)


def quix_python(explicit: str | None) -> str | None:
    """An interpreter that can import quixstreams: the one named, else this one if it can."""
    named = explicit or os.environ.get(QUIX_PYTHON_ENV)
    if named:
        return named
    return sys.executable if importlib.util.find_spec("quixstreams") else None


# -- load and measurement -----------------------------------------------------------------------


async def _produce_backlog(bootstrap: str, topic: str, texts: list[str]) -> list[tuple[int, int]]:
    """Produce the backlog: each event's (partition, offset), by index."""
    producer = make_producer(
        _options(bootstrap), linger_ms=20, max_batch_size=512 * 1024, compression_type="lz4",
        acks="all",
    )  # fmt: skip
    await producer.start()
    try:
        futures = []
        for i, text in enumerate(texts):
            futures.append(await producer.send(topic, event(i, text, BACKLOG_PREFIX), key=key(i)))
        return [(m.partition, m.offset) for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


def _options(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap}


async def _create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    await ensure_topics(_options(bootstrap), names, partitions, wait_s=60)


async def _delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    await delete_topics(_options(bootstrap), names)


async def _committed(admin: Admin, group: str, parts: list[TopicPartition]) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=parts)
    except KafkaError as exc:  # Kafka: no coordinator until the group's first request
        if not exc.retriable:
            raise
        return 0
    return sum(max(0, offsets[tp].offset) for tp in parts if tp in offsets)


async def _throughput(
    bootstrap: str, group: str, parts: list[TopicPartition], placed: Sequence[tuple[int, int]],
    output: str, proc: Process,
) -> Rate:  # fmt: skip
    """msgs/s from the backlog progress the contender's output shows (`measure.progress`:
    the same definition for a contender committing every batch or once an interval), from
    the round's own output topic, until the group has committed all of the backlog and its
    output is read to the end.

    A reader that starts after the contender's first output only sees it later: the first
    sample is then later and shows more progress, still a true (time, records) point."""
    consumer = make_consumer(
        _options(bootstrap), group_id=None, enable_auto_commit=False, fetch_max_wait_ms=5,
    )  # fmt: skip
    await consumer.start()
    progress = Progress(placed)
    try:
        outputs = [TopicPartition(output, p) for p in range(len(parts))]
        consumer.assign(outputs)
        await consumer.seek_to_beginning(*outputs)

        async def collect(until: asyncio.Event) -> None:
            while not until.is_set():
                batch = await consumer.getmany(timeout_ms=20)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        i = _output_index(r.value, BACKLOG_PREFIX)
                        if i is not None:
                            progress.see(i)
                progress.mark(now, proc.cpu_seconds)

        finished = asyncio.Event()
        collector = asyncio.create_task(collect(finished))
        try:
            await _await_committed_parts(
                bootstrap, group, parts, len(placed), proc, f"{proc.name}: backlog not committed"
            )
            ends = await consumer.end_offsets(outputs)
            deadline = time.monotonic() + 60
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                if time.monotonic() > deadline or collector.done():
                    raise RuntimeError(f"{proc.name}: output not readable to its end")
                await asyncio.sleep(0.02)  # the collector reads meanwhile
        finally:
            finished.set()
            await collector
    finally:
        await consumer.stop()
    return progress.rate()


async def _latency(
    bootstrap: str, contender: Contender, group: str, paced: str, count: int,
    rate: float, partitions: int, proc: Process,
) -> None:  # fmt: skip
    """A feeder process (`measure.feed`) produces `count` events at `rate` into `paced`, each
    stamped with its production time; a consumer of the output topic notes when each one's
    output record (review item, or the contender's hit) becomes visible: latency = visible −
    stamp, record → review. A second consumer, of `paced` itself, notes when each record
    becomes visible there (feed → broker → a plain consumer, no worker): the floor any
    contender's latency sits on, taken from the same feed at the same time."""
    output = await _visibility(bootstrap, contender.output_topic)
    # one partition of the feed is enough for the floor's distribution, and reading all of
    # it (every record, at up to ~35,000/s for the minimal loop) loaded this process, which
    # also reads the output, and the shared cores: the minimal loop's p99 rose several-fold
    floor = await _visibility(bootstrap, paced, TopicPartition(paced, 0))
    try:
        contender.warmup_s = await _warm_up(bootstrap, group, paced, partitions, proc)
        await output.start()
        await floor.start()
        with tempfile.TemporaryDirectory() as tmp:
            stamps_file = Path(tmp) / "stamps"
            summary = await _feed(bootstrap, paced, rate, count, stamps_file, proc)
            stamps = read_stamps(stamps_file)
        contender.fed_per_s = float(summary["per_s"])
        contender.fed_behind_ms = (summary["behind_p99_ms"], summary["behind_max_ms"])
        # then wait until the contender has committed all of it and its output is read
        await _await_committed(
            bootstrap, group, paced, partitions, count + partitions, proc,
            f"{contender.name}: paced events not all committed",
        )  # fmt: skip
        await output.read_to_end(f"{contender.name}: output not readable to its end")
        await floor.read_to_end(f"{contender.name}: paced input not readable to its end")
    finally:
        await output.stop()
        await floor.stop()
    seen = output.seen
    contender.latencies_ms = [t - stamps[i] for i, t in seen.items() if i < len(stamps)]
    contender.floor_ms = [t - stamps[i] for i, t in floor.seen.items() if i < len(stamps)]
    contender.p99_by_second = _p99_by_second(stamps, seen)
    contender.floor_p99_by_second = _p99_by_second(stamps, floor.seen)


class _Visibility:
    """When each paced event (id `p-i`) first becomes visible in a topic to a consumer of it
    (positioned at the end before anything is fed): `seen[i]`, epoch ms."""

    def __init__(self, consumer: Any):
        self.consumer = consumer
        self.seen: dict[int, float] = {}
        self._until = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        seen = self.seen
        while not self._until.is_set():
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.time() * 1000
            for records in batch.values():
                for r in records:
                    i = _paced_index(r.value)
                    if i is not None and i not in seen:  # at-least-once: first copy
                        seen[i] = now

    async def read_to_end(self, failure: str) -> None:
        consumer = self.consumer
        ends = await consumer.end_offsets(list(consumer.assignment()))
        deadline = time.monotonic() + 60
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            if time.monotonic() > deadline or (self._task is not None and self._task.done()):
                raise RuntimeError(failure)
            await asyncio.sleep(0.05)  # the collector reads meanwhile

    async def stop(self) -> None:
        self._until.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            await self.consumer.stop()


async def _visibility(
    bootstrap: str, topic: str, only: TopicPartition | None = None
) -> _Visibility:
    """A started consumer of `topic` (or of its partition `only`), its partitions assigned
    and positioned at their end."""
    consumer = make_consumer(
        _options(bootstrap), *([] if only else [topic]), group_id=None,
        auto_offset_reset="latest", enable_auto_commit=False, fetch_max_wait_ms=5,
    )  # fmt: skip
    await consumer.start()
    try:
        if only is not None:
            consumer.assign([only])
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer of {topic} got no partitions")
            await consumer.getmany(timeout_ms=50)
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolve "latest" before anything is fed
    except BaseException:
        await consumer.stop()
        raise
    return _Visibility(consumer)


def _p99_by_second(stamps: Sequence[int], seen: dict[int, float]) -> list[float]:
    """p99 latency of the records stamped in each second of the feed: a warm-up (the first
    batch of a partition restores its state) and a backlog that builds show apart."""
    if not stamps:
        return []
    start = stamps[0]
    by: dict[int, list[float]] = {}
    for i, t in seen.items():
        if i < len(stamps):
            by.setdefault(int((stamps[i] - start) // 1000), []).append(t - stamps[i])
    return [round(_quantile(by.get(k, []), 0.99), 1) for k in range(max(by, default=-1) + 1)]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _warm_up(bootstrap: str, group: str, paced: str, partitions: int, proc: Process) -> float:
    """One event into each partition of the paced topic, and wait for its commit: seconds.

    A worker restores a partition's behaviour state before its first batch there (one
    changelog read each), as after any assignment; the latency figure is the steady state's,
    so that one-off cost is paid here, and reported apart (`warmup_s`)."""
    started = time.monotonic()
    producer = make_producer(_options(bootstrap), acks="all")
    await producer.start()
    try:
        sent = [await producer.send(paced, event(i, "warm-up", "w"), key=key(i), partition=i)
                for i in range(partitions)]  # fmt: skip
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    await _await_committed(
        bootstrap, group, paced, partitions, partitions, proc,
        f"{proc.name}: warm-up events not committed",
    )  # fmt: skip
    return time.monotonic() - started


async def _await_committed(
    bootstrap: str, group: str, topic: str, partitions: int, target: int, proc: Process,
    failure: str,
) -> None:  # fmt: skip
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    await _await_committed_parts(bootstrap, group, parts, target, proc, failure)


async def _await_committed_parts(
    bootstrap: str, group: str, parts: list[TopicPartition], target: int, proc: Process,
    failure: str,
) -> None:  # fmt: skip
    """Poll (within `PHASE_TIMEOUT_S`) until `group` has committed `target` offsets of
    `parts`, checking that the contender is still alive."""
    admin = make_admin(_options(bootstrap))
    await admin.start()
    try:
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while await _committed(admin, group, parts) < target:
            proc.check()
            if time.monotonic() > deadline:
                raise RuntimeError(failure)
            await asyncio.sleep(0.02)  # poll interval inside the deadline
    finally:
        await admin.close()


def _paced_index(value: bytes | None) -> int | None:
    return _output_index(value, PACED_PREFIX)


def _output_index(value: bytes | None, prefix: str) -> int | None:
    """The index of the event (id `{prefix}-{i}`) an output record came from: a review item
    carries the event, the yardsticks' hits are the event."""
    if not value:
        return None
    item = orjson.loads(value)
    if not isinstance(item, dict):
        return None
    event = item.get("event", item)
    return index_of(event.get("id") if isinstance(event, dict) else None, prefix)


async def _feed(
    bootstrap: str, topic: str, rate: float, count: int, stamps: Path, proc: Process
) -> dict[str, Any]:
    """Run the feeder process: wait for its `ready`, say go, wait for its summary."""
    with tempfile.TemporaryFile() as log:
        return await _feeder(bootstrap, topic, rate, count, stamps, proc, log)


async def _feeder(
    bootstrap: str, topic: str, rate: float, count: int, stamps: Path, proc: Process, log: IO[bytes]
) -> dict[str, Any]:
    feeder = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "screener.measure.feed", bootstrap, topic, "--rate", str(rate),
        "--count", str(count), "--stamps", str(stamps), "--prefix", PACED_PREFIX,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
    )  # fmt: skip
    assert feeder.stdin is not None and feeder.stdout is not None
    try:
        line = await asyncio.wait_for(feeder.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError(f"feeder did not start: {line!r}")
        feeder.stdin.write(b"go\n")
        await feeder.stdin.drain()
        budget = count / rate + PHASE_TIMEOUT_S
        out, _ = await asyncio.wait_for(feeder.communicate(), budget)
        proc.check()
        if feeder.returncode != 0:
            log.seek(0)
            tail = log.read()[-2000:].decode("utf-8", "replace")
            raise RuntimeError(f"feeder exited with {feeder.returncode}: {tail}")
        summary: dict[str, Any] = orjson.loads(out.splitlines()[-1])
        if summary["errors"]:
            raise RuntimeError(f"feeder: {summary['errors']} records not acknowledged")
        return summary
    finally:
        if feeder.returncode is None:
            feeder.kill()
            await feeder.wait()


class Process:
    """A contender's process; its output goes to a temporary file shown if it dies."""

    def __init__(self, name: str, argv: list[str]):
        self.name = name
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


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    """`SETTING=V1,V2,…` (a `screener run` setting, e.g. `fetch_max_wait_ms=5,20`): one
    1-worker screener contender per value, everything else as shipped."""
    name, sep, values = spec.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not values.strip():
        raise ValueError(f"--sweep {spec!r}: expected SETTING=V1,V2,…")
    if name not in Settings.model_fields or name in _SET_BY_BENCH:
        allowed = ", ".join(sorted(set(Settings.model_fields) - _SET_BY_BENCH))
        raise ValueError(f"--sweep: {name!r} is not a setting the bench can vary ({allowed})")
    chosen = [v.strip() for v in values.split(",") if v.strip()]
    for v in chosen:
        Settings.model_validate({name: v})  # a bad value fails here, not in a contender
    return name, chosen


_SET_BY_BENCH = frozenset({"bootstrap_servers", "input_topics", "review_topic", "dlq_topic",
                           "group_id", "workers", "metrics_port", "rules"})  # fmt: skip


def _contenders(
    python: str,
    quix: str | None,
    workers: int,
    bootstrap: str,
    tag: str,
    rules_args: list[str],
    sweep: Sequence[tuple[str, list[str]]] = (),
) -> list[Contender]:
    plan: list[tuple[str, int, list[str]]] = [("minimal aiokafka loop", 0, [])]
    if quix:
        plan.append(("naive Quix Streams filter", -1, []))
    plan.append(("screener, 1 worker", 1, []))
    if workers > 1:
        plan.append((f"screener, {workers} workers", workers, []))
    for setting, values in sweep:
        flag = "--" + setting.replace("_", "-")
        plan += [(f"screener, 1 worker, {setting}={v}", 1, [flag, v]) for v in values]
    out: list[Contender] = []
    for k, (name, n, extra) in enumerate(plan):
        inputs, output = f"bench-{tag}-in,bench-{tag}-paced{k}", f"bench-{tag}-out{k}"
        group = f"bench-{tag}-g{k}"  # a round's own group: suffixed per round at start
        if n <= 0:
            script = CONTENDERS / ("minimal_aiokafka.py" if n == 0 else "quix_filter.py")
            argv = [python if n == 0 else str(quix), str(script), bootstrap, inputs, output, group]
        else:
            argv = [python, "-m", "screener", "run", "--bootstrap-servers", bootstrap,
                    "--input-topics", inputs, "--review-topic", output,
                    "--dlq-topic", f"bench-{tag}-dlq{k}", "--group-id", group,
                    "--workers", str(n), "--metrics-port", "0", *rules_args, *extra]  # fmt: skip
        out.append(Contender(name, argv, output, workers=max(n, 1)))
    return out


async def _run(
    bootstrap: str, messages: int, workers: int, rules: Sequence[Path], rate: float | None,
    share: float, duration: float, rounds: int, quix: str | None, console: Console,
    sweep: Sequence[tuple[str, list[str]]] = (), partitions: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    partitions = partitions or max(6, workers)
    backlog = f"bench-{tag}-in"
    texts = corpus.messages(messages, seed=17, violating_share=FLAGGED_SHARE)
    rules_args = ["--rules", ",".join(str(p) for p in rules)] if rules else []
    contenders = _contenders(sys.executable, quix, workers, bootstrap, tag, rules_args, sweep)
    topics = [backlog] + [f"bench-{tag}-{kind}{k}" for k in range(len(contenders))
                          for kind in ("paced", "dlq")]  # fmt: skip
    base = [c.output_topic for c in contenders]  # suffixed per round
    topics += [f"{b}-r{r}" for b in base for r in range(rounds)]
    await _create_topics(bootstrap, topics, partitions)
    try:
        with console.status(f"producing a backlog of {messages:,} events"):
            placed = await _produce_backlog(bootstrap, backlog, texts)
        parts = [TopicPartition(backlog, p) for p in range(partitions)]
        for r in range(rounds):
            # odd rounds take the turns in reverse (ABC, CBA, ...): a contender's place in the
            # order moved its rate by 11-14 % on Apache Kafka (the same screener settings ran
            # faster last than right after the yardsticks), so every contender runs early and late
            turns = list(enumerate(contenders))
            for k, c in turns if r % 2 == 0 else turns[::-1]:
                # a round's own group and output topic: its output is its progress alone (a
                # record's timestamp cannot tell rounds apart: Quix Streams gives its output
                # the input's timestamp, and Tansu's end offsets are not reliable as a start)
                group, output = f"bench-{tag}-g{k}-r{r}", f"{base[k]}-r{r}"
                renamed = {f"bench-{tag}-g{k}": group, base[k]: output}
                argv = [renamed.get(a, a) for a in c.argv]
                c.output_topic = output
                proc = Process(c.name, argv)
                try:
                    with console.status(f"round {r + 1}/{rounds}, {c.name}: throughput"):
                        got = await _throughput(
                            bootstrap, group, parts, placed, c.output_topic, proc
                        )
                    c.rates.append(got.msgs_per_s)
                    c.timed.append(got.records)
                    if got.cpu_us_per_msg is not None:
                        c.cpu_us.append(got.cpu_us_per_msg)
                    if r == 0:
                        c.outputs = await _end_total(bootstrap, c.output_topic, partitions)
                    if r == rounds - 1:
                        c.latency_rate = rate or share * c.msgs_per_s
                        paced = max(1, int(c.latency_rate * duration))
                        with console.status(f"{c.name}: latency at {c.latency_rate:,.0f} msgs/s"):
                            await _latency(bootstrap, c, group, f"bench-{tag}-paced{k}", paced,
                                           c.latency_rate, partitions, proc)  # fmt: skip
                finally:
                    proc.stop()
                console.print(f"round {r + 1}: {c.name}: {c.rates[-1]:,.0f} msgs/s")
    finally:
        await _delete_topics(bootstrap, topics)
    return _result(contenders, messages, partitions, share, rate, duration, rounds)


def _result(
    contenders: list[Contender], messages: int, partitions: int, share: float,
    rate: float | None, duration: float, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    names = [c.name for c in contenders]
    screened = contenders[names.index("screener, 1 worker")]
    ratios: dict[str, list[float]] = {}
    for c in contenders:
        if c is not screened:  # screener ÷ contender, round by round (neighbouring runs)
            ratios[c.name] = [round(a / b, 3) for a, b in zip(screened.rates, c.rates, strict=True)]
    settings = Settings()
    return {
        "machine": machine(),
        "messages": messages,
        "partitions": partitions,
        "rounds": rounds,
        "latency_share": None if rate else share,
        "latency_duration_s": duration,
        "flagged_share": round(screened.outputs / messages, 4),
        "settings": {k: getattr(settings, k) for k in
                     ("batch_max_records", "batch_timeout_ms", "fetch_max_wait_ms",
                      "linger_ms", "max_batch_bytes", "compression", "changelog_compression",
                      "changelog_batch_bytes", "commit_interval_ms")},
        "screener_1_worker_over": {
            name: {"per_round": r, "median": statistics.median(r)} for name, r in ratios.items()
        },
        "contenders": [
            {"name": c.name, "workers": c.workers, "msgs_per_s": round(c.msgs_per_s),
             "per_round": [round(x) for x in c.rates], "timed_records": c.timed,
             "latency_rate": round(c.latency_rate), "fed_per_s": round(c.fed_per_s),
             "fed_behind_p99_ms": c.fed_behind_ms[0], "fed_behind_max_ms": c.fed_behind_ms[1],
             "p50_ms": round(c.percentile(0.5), 2), "p95_ms": round(c.percentile(0.95), 2),
             "p99_ms": round(c.percentile(0.99), 2), "max_ms": round(c.percentile(1.0), 2),
             "floor_p50_ms": round(c.floor(0.5), 2), "floor_p99_ms": round(c.floor(0.99), 2),
             "latency_samples": len(c.latencies_ms), "p99_ms_by_second": c.p99_by_second,
             "floor_p99_ms_by_second": c.floor_p99_by_second,
             "warmup_s": round(c.warmup_s, 3),
             "cpu_us_per_msg": round(statistics.median(c.cpu_us), 2) if c.cpu_us else None}
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
    rate: float | None, duration: float, console: Console, broker: str = "tansu",
    rounds: int = 1, latency_share: float = 0.5, quix: str | None = None,
    sweep: Sequence[tuple[str, list[str]]] = (), partitions: int | None = None,
    kafka_log: str = "memory",
) -> dict[str, Any]:  # fmt: skip
    """Run the benchmark (on an embedded Tansu broker, or Apache Kafka from the Maven jars,
    unless `bootstrap_servers` is given), print the table, return the result.

    `kafka_log`: Apache Kafka's log in `memory` (a directory on /dev/shm, where there is one)
    or on `disk`. Why memory by default: the figures are the service's, and Tansu keeps its
    log in memory too; on the 2-core VM of the README, with the log on disk, Kafka's request
    log put 87–90 ms of *local* time (the append itself) on the feed's first produce requests
    while a screener worker ran, so the feed fell ~200 ms behind and the first second held the
    p99; with the log in memory those appends took under 20 ms (README "Latency")."""
    from screener.runtime import install_service_loop

    install_service_loop()
    quix = quix_python(quix)
    with contextlib.ExitStack() as stack:
        if bootstrap_servers is not None:
            bootstrap, where = bootstrap_servers, bootstrap_servers
        elif broker == "kafka":
            from screener.brokers.kafka import ApacheKafka

            logs = _kafka_log_dir(kafka_log, stack, console)
            with console.status("starting Apache Kafka"):
                kafka = stack.enter_context(ApacheKafka(logs, heap="1g"))
            on = "in memory" if logs is not None else "on disk"
            bootstrap, where = kafka.bootstrap_servers, f"Apache Kafka (log {on})"
        else:
            from screener.brokers.tansu import EmbeddedBroker

            logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            tansu = stack.enter_context(EmbeddedBroker(log_path=logs / "tansu.log"))
            bootstrap, where = tansu.bootstrap_servers, "embedded Tansu"
        result = asyncio.run(_run(bootstrap, messages, workers, rules, rate, latency_share,
                                  duration, rounds, quix, console, sweep,
                                  partitions))  # fmt: skip
    result["broker"] = where
    _print(result, console)
    return result


def memory_for_kafka(shm: Path = SHM) -> bool:
    """Whether `shm` can hold the bench broker's log: writable, with `SHM_MIN_FREE` free."""
    try:
        return shm.is_dir() and os.access(shm, os.W_OK) and (
            shutil.disk_usage(shm).free >= SHM_MIN_FREE)  # fmt: skip
    except OSError:
        return False


def _kafka_log_dir(kind: str, stack: contextlib.ExitStack, console: Console) -> Path | None:
    """A directory on /dev/shm for Apache Kafka's data (`memory`), removed at exit; None for
    a temporary directory on disk (`disk`, or no /dev/shm with room here)."""
    if kind == "disk":
        return None
    if not memory_for_kafka():
        console.print(f"[yellow]no writable {SHM} with {SHM_MIN_FREE >> 30} GiB free: Apache "
                      "Kafka keeps its log on disk[/]")  # fmt: skip
        return None
    path = Path(tempfile.mkdtemp(prefix="screener-bench-kafka-", dir=SHM))
    stack.callback(shutil.rmtree, path, True)  # registered first: runs after Kafka stops
    return path


def _print(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"screener bench pipeline — {result['broker']}, {result['machine']}")
    columns = ("contender", "msgs/s (median)", "per round", "latency at msgs/s", "p50 ms",
               "p95 ms", "p99 ms", "max ms", "floor p50/p99", "CPU µs/msg")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for c in result["contenders"]:
        cpu = "?" if c["cpu_us_per_msg"] is None else f"{c['cpu_us_per_msg']:.1f}"
        rounds = " ".join(f"{x:,}" for x in c["per_round"])
        fed = f"{c['fed_per_s']:,} of {c['latency_rate']:,}"
        lat = [f"{c[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        floor = f"{c['floor_p50_ms']:.0f} / {c['floor_p99_ms']:.0f}"
        table.add_row(c["name"], f"{c['msgs_per_s']:,}", rounds, fed, *lat, floor, cpu)
    if not console.is_terminal:  # a log or a pipe: no 80-column wrapping of the table
        console = Console(file=console.file, width=130)
    console.print(table)
    for c in result["contenders"]:
        if c["fed_per_s"] < 0.9 * c["latency_rate"]:  # the feeder, not the contender, lagged
            console.print(f"[yellow]{c['name']}: the feed reached {c['fed_per_s']:,} of "
                          f"{c['latency_rate']:,} msgs/s: its latency is not at the asked "
                          "rate (a busy host)[/]")  # fmt: skip
    behind = "; ".join(f"{c['name']} {c['fed_behind_p99_ms']:g} / {c['fed_behind_max_ms']:g}"
                       for c in result["contenders"])  # fmt: skip
    console.print(f"feed behind its schedule, p99 / max ms (counted in the latency): {behind}")
    for name, r in result["screener_1_worker_over"].items():
        per = ", ".join(f"{x:.2f}" for x in r["per_round"])
        console.print(f"screener, 1 worker ÷ {name}: {r['median']:.2f} (rounds: {per})")
    s = result["settings"]
    share = result["latency_share"]
    console.print(
        f"{result['messages']:,} events ({result['flagged_share']:.1%} flagged) over "
        f"{result['partitions']} partitions, {result['rounds']} round(s); latency "
        + (f"at {share:.0%} of each contender's rate" if share else "at a fixed rate")
        + f" for {result['latency_duration_s']:g}s; batch_max_records={s['batch_max_records']} "
        f"batch_timeout_ms={s['batch_timeout_ms']} fetch_max_wait_ms={s['fetch_max_wait_ms']} "
        f"linger_ms={s['linger_ms']} max_batch_bytes={s['max_batch_bytes']} "
        f"compression={s['compression']} changelog_compression={s['changelog_compression']} "
        f"changelog_batch_bytes={s['changelog_batch_bytes']} "
        f"commit_interval_ms={s['commit_interval_ms']}"
    )
