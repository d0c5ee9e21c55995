"""`screener loadtest`: drive a running screener at stepped rates and measure it from Kafka.

For each step the load test produces `rate × step_seconds` events to the input topics (paced,
batched, each stamped with the time it was due on the step's schedule: a sender held back by
a slow broker counts that wait, see `traffic.pacing.pump`), then waits for the service to
drain. It measures, from Kafka alone:

- achieved input rate (acknowledged records / time);
- lag: records produced and not yet committed by the service's consumer group;
- end-to-end latency of every flagged event: review record timestamp − input record timestamp
  (the review item is keyed by event id, and each event id carries its sequence number);
- detection: labelled traffic (`screener-label`) against what reached the review topic.

The traffic is a pool of events, generated (`screener generate`'s model) or read from a
recording, cycled with fresh event ids (`lt<run>-<seq>`) so that every record is distinct and
traceable. A `--metrics-url` adds the service's own view (consumed, lag, latency histogram).
A step is sustainable when the input rate reached 95% of the target, the lag at its end was
within `lag_tolerance_s` of traffic, the p99 latency within `max_p99_ms`, and the backlog
drained within `drain_seconds`.

Long: the pool, the review reader, the lag probe and the step loop share one run's state;
the report rendering is already its own module (`loadtest_report`).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rich.console import Console
from rich.live import Live
from rich.table import Table

from screener.defaults import CHAT_TOPIC, MICROBLOG_TOPIC, REVIEW_TOPIC
from screener.kafka import (
    TopicPartition,
    make_admin,
    make_consumer,
    make_producer,
    partition_ids,
    tool_options,
)
from screener.measure import prom_scrape
from screener.synthetic.generate import BENIGN, LABEL_HEADER, GenConfig, Generator
from screener.traffic.pacing import Outbound, Pace, Pacer, pump
from screener.traffic.recording import RecordingReader
from screener.traffic.replay import producer_options
from screener.traffic.sender import BatchSender, HeaderList

CATEGORY_HEADER = "screener-category"


@dataclass
class LoadTestConfig:
    bootstrap_servers: str | None = None
    input_topics: list[str] = field(default_factory=lambda: [CHAT_TOPIC, MICROBLOG_TOPIC])
    review_topic: str = REVIEW_TOPIC
    group_id: str = "screener"
    steps: list[float] = field(default_factory=lambda: [5_000.0, 10_000.0, 20_000.0])
    step_seconds: float = 10.0
    warmup_seconds: float = 3.0
    drain_seconds: float = 30.0
    metrics_urls: list[str] = field(default_factory=list)
    max_p99_ms: float = 5_000.0
    lag_tolerance_s: float = 1.0
    min_achieved: float = 0.95
    keep_going: bool = False
    replay: Path | None = None
    pool_size: int = 50_000
    seed: int = 1
    violation_rate: float = 0.05
    acks: str = "all"


# -- traffic -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    topic: str
    key: bytes | None
    head: bytes
    """The value up to the event id (or the whole value when the id could not be found)."""
    tail: bytes | None
    """The value after the event id; None: untracked (sent as is)."""
    headers: HeaderList
    label: str | None


class Pool:
    """Events to cycle through; every send gets the event id `<prefix><seq>`."""

    def __init__(self, items: list[_Item], source: str):
        if not items:
            raise ValueError(f"no events to send from {source}")
        self.items = items
        self.source = source
        self.labels = [it.label for it in items]

    @classmethod
    def generated(cls, size: int, seed: int, violation_rate: float, topics: list[str]) -> Pool:
        gen = Generator(GenConfig(seed=seed, violation_rate=violation_rate, burst_every=0,
                                  id_prefix="lt"))  # fmt: skip
        items = []
        for index in range(size):
            g = gen.event(index)
            topic = topics[0] if g.kind == "chat" or len(topics) == 1 else topics[1]
            head, _, tail = g.value.partition(orjson.dumps(g.event_id))
            items.append(_Item(topic, g.key, head, tail, g.headers(), g.label))
        return cls(items, f"generated (seed {seed}, {violation_rate:.0%} violations)")

    @classmethod
    def from_recording(cls, path: Path, size: int, topics: list[str]) -> Pool:
        items: list[_Item] = []
        for rec in RecordingReader(path):
            if len(items) >= size:
                break
            value = rec.value or b""
            head, tail = value, None
            try:
                event = orjson.loads(value)
                marker = orjson.dumps(event["id"])
                if value.count(marker) == 1:
                    head, _, rest = value.partition(marker)
                    tail = rest
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass
            label = next((v.decode() for k, v in rec.headers if k == LABEL_HEADER and v), None)
            topic = rec.topic if rec.topic in topics else topics[0]
            items.append(_Item(topic, rec.key, head, tail, list(rec.headers), label))
        return cls(items, f"recording {path} (first {len(items):,} records)")

    def outbound(self, prefix: str, start: int) -> Iterator[Outbound]:
        items, n = self.items, len(self.items)
        seq = start
        while True:
            it = items[seq % n]
            if it.tail is None:
                value = it.head
            else:
                value = b"".join((it.head, b'"', prefix.encode(), str(seq).encode(), b'"', it.tail))
            yield it.topic, it.key, value, it.headers, None, None
            seq += 1


# -- observers -----------------------------------------------------------------------------------


class ReviewReader:
    """Reads the review topic in the background; keeps (seq, latency ms, category) of this run."""

    def __init__(self, options: dict[str, Any], topic: str, prefix: str, sent_ts: array.array[int]):
        self.consumer = make_consumer(
            options, group_id=None, enable_auto_commit=False, auto_offset_reset="latest"
        )
        self.options = options
        self.topic = topic
        self.prefix = prefix.encode()
        self.sent_ts = sent_ts
        self.seqs: list[int] = []
        self.latency_ms: list[int] = []
        self.categories: list[str] = []
        self.polls = 0
        self.records = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        parts = (await partition_ids(self.options, [self.topic]))[self.topic]
        tps = [TopicPartition(self.topic, p) for p in parts]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)  # older items are skipped by prefix anyway
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        n = len(self.prefix)
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=10_000)
            for records in batches.values():
                for r in records:
                    self.records += 1
                    key = r.key
                    if key is None or not key.startswith(self.prefix):
                        continue
                    try:
                        seq = int(key[n:])
                    except ValueError:
                        continue
                    if seq >= len(self.sent_ts):
                        continue
                    self.seqs.append(seq)
                    self.latency_ms.append(r.timestamp - self.sent_ts[seq])
                    category = next((bytes(v).decode() for k, v in r.headers
                                     if k == CATEGORY_HEADER), "")  # fmt: skip
                    self.categories.append(category)
            self.polls += 1

    async def caught_up(self) -> bool:
        """Every review partition read up to the high watermark of the last fetch."""
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            if hw is None or await self.consumer.position(tp) < hw:
                return False
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.consumer.stop(), 10)


class LagProbe:
    """Backlog of this run's traffic: produced (acknowledged) minus committed by the group.

    Computed from the group's committed offsets and our own acknowledgements rather than from
    end offsets, which some brokers (Tansu 0.6) report short.
    """

    def __init__(self, options: dict[str, Any], group: str, topics: list[str]):
        self.admin = make_admin(options)
        self.options = options
        self.group = group
        self.topics = topics
        self.tps: list[TopicPartition] = []
        self.base = 0
        self.backlog = 0

    async def start(self) -> None:
        await self.admin.start()
        found = await partition_ids(self.options, self.topics)
        self.tps = [TopicPartition(t, p) for t in self.topics for p in found[t]]
        self.base = await self.committed()
        consumer = make_consumer(self.options, group_id=None)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(self.tps)
        finally:
            await consumer.stop()
        self.backlog = max(0, sum(ends.values()) - self.base)

    async def committed(self) -> int:
        offsets = await self.admin.list_consumer_group_offsets(self.group, partitions=self.tps)
        return sum(max(0, o.offset) for o in offsets.values() if o is not None)

    async def lag(self, acked: int) -> tuple[int, int]:
        """(lag, records consumed by the group since the start)."""
        consumed = await self.committed() - self.base
        return max(0, self.backlog + acked - consumed), consumed

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.admin.close()


# -- results -------------------------------------------------------------------------------------


@dataclass
class StepResult:
    target_rate: float
    sent: int = 0
    errors: int = 0
    seconds: float = 0.0
    achieved_rate: float = 0.0
    processed_rate: float = 0.0
    lag_end: int = 0
    lag_max: int = 0
    lag_end_seconds: float = 0.0
    drain_seconds: float | None = None
    flagged: int = 0
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    sustainable: bool = False
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    first_seq: int = 0
    last_seq: int = 0


@dataclass
class Sample:
    t: float
    sent: int
    consumed: int
    lag: int
    step: int


def _percentiles(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    arr = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
            "p99": round(float(p99), 1), "max": float(arr.max()), "count": len(values)}  # fmt: skip


def _metrics_delta(
    before: prom_scrape.Snapshot | None, after: prom_scrape.Snapshot | None
) -> dict[str, Any] | None:
    if before is None or after is None:
        return None
    seconds = max(after.at - before.at, 1e-9)
    q = {f"p{int(p * 100)}": prom_scrape.quantile(before.buckets, after.buckets, p)
         for p in (0.5, 0.95, 0.99)}  # fmt: skip
    return {
        "consumed_rate": round((after.consumed - before.consumed) / seconds, 1),
        "flagged": after.flagged - before.flagged,
        "lag_end": after.lag,
        "latency_ms": {k: None if v is None else round(v * 1000, 1) for k, v in q.items()},
    }


def detection(pool: Pool, sent: int, reader: ReviewReader) -> dict[str, Any]:
    """Recall per category and false positive rate over everything this run sent."""
    labels = pool.labels
    n = len(labels)
    per_cycle = Counter(labels)
    full, rest = divmod(sent, n)
    sent_by_label = Counter({k: v * full for k, v in per_cycle.items()})
    sent_by_label.update(labels[:rest])
    flagged_label: Counter[str | None] = Counter()
    exact: Counter[str] = Counter()
    seen: set[int] = set()
    for seq, category in zip(reader.seqs, reader.categories, strict=True):
        if seq in seen or seq >= sent:
            continue
        seen.add(seq)
        label = labels[seq % n]
        flagged_label[label] += 1
        if label is not None and category == label:
            exact[label] += 1
    labelled = sum(v for k, v in sent_by_label.items() if k is not None)
    if not labelled:
        return {"labelled": 0}
    positives = sum(v for k, v in sent_by_label.items() if k not in (None, BENIGN))
    found = sum(v for k, v in flagged_label.items() if k not in (None, BENIGN))
    benign = sent_by_label.get(BENIGN, 0)
    by_category = {}
    for label, count in sorted(sent_by_label.items(), key=lambda kv: str(kv[0])):
        if label in (None, BENIGN):
            continue
        by_category[str(label)] = {
            "positives": count, "flagged": flagged_label[label],
            "recall": round(flagged_label[label] / count, 4) if count else None,
            "recall_exact": round(exact[label] / count, 4) if count else None,
        }  # fmt: skip
    return {
        "labelled": labelled,
        "positives": positives,
        "flagged_positives": found,
        "recall": round(found / positives, 4) if positives else None,
        "recall_exact": round(sum(exact.values()) / positives, 4) if positives else None,
        "benign": benign,
        "false_positives": flagged_label[BENIGN],
        "false_positive_rate": round(flagged_label[BENIGN] / benign, 5) if benign else None,
        "by_category": by_category,
    }


# -- the run -------------------------------------------------------------------------------------


def _live_view(steps: list[StepResult], current: StepResult | None, sample: Sample | None) -> Table:
    table = Table(title="screener loadtest (running)", expand=False)
    for col in ("step", "target/s", "sent", "achieved/s", "lag", "flagged", "p99 ms", "ok"):
        table.add_column(col, justify="right")
    for i, s in enumerate([*steps, *([current] if current else [])], 1):
        live = s is current
        lag = sample.lag if live and sample else s.lag_end
        p99 = s.latency_ms.get("p99")
        table.add_row(
            str(i), f"{s.target_rate:,.0f}", f"{s.sent:,}", f"{s.achieved_rate:,.0f}",
            f"{lag:,}", f"{s.flagged:,}", "-" if p99 is None else f"{p99:,.0f}",
            "…" if live else ("✓" if s.sustainable else "✗"),
        )  # fmt: skip
    return table


class _Run:
    """State of one load test: the traffic, the observers and what they saw."""

    def __init__(self, cfg: LoadTestConfig, options: dict[str, Any], pool: Pool, live: Live):
        self.cfg = cfg
        self.pool = pool
        self.live = live
        self.prefix = f"lt{uuid.uuid4().hex[:8]}-"
        self.sent_ts: array.array[int] = array.array("q")
        self.reader = ReviewReader(options, cfg.review_topic, self.prefix, self.sent_ts)
        self.probe = LagProbe(options, cfg.group_id, cfg.input_topics)
        self.producer = make_producer(producer_options(cfg.bootstrap_servers, acks=cfg.acks))
        self.sender = BatchSender(self.producer)
        self.steps: list[StepResult] = []
        self.samples: list[Sample] = []
        self.metrics_seen = False
        self.t0 = time.monotonic()

    async def start(self) -> None:
        await self.producer.start()
        await self.reader.start()
        await self.probe.start()

    async def close(self) -> None:
        await self.reader.stop()
        await self.probe.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.stop(), 30)

    def _on_sent(self, index: int, ts: int) -> None:
        self.sent_ts.append(ts)

    async def _observe(self, step: StepResult, pacer: Pacer, index: int) -> None:
        while True:
            await asyncio.sleep(0.5)  # sampling period
            lag, consumed = await self.probe.lag(self.sender.stats.acked)
            sample = Sample(round(time.monotonic() - self.t0, 2), len(self.sent_ts), consumed,
                            lag, index)  # fmt: skip
            self.samples.append(sample)
            step.lag_max = max(step.lag_max, lag)
            step.sent = len(self.sent_ts) - step.first_seq
            elapsed = time.monotonic() - pacer.start
            step.achieved_rate = round(step.sent / elapsed, 1) if elapsed else 0.0
            self.live.update(_live_view(self.steps, step, sample))

    async def _drain(self, index: int) -> float | None:
        """Seconds until the group committed everything and the review reader caught up."""
        start = last_sample = time.monotonic()
        polls = None
        while (now := time.monotonic()) - start < self.cfg.drain_seconds:
            lag, consumed = await self.probe.lag(self.sender.stats.acked)
            if now - last_sample >= 0.5:
                last_sample = now
                self.samples.append(Sample(round(now - self.t0, 2), len(self.sent_ts), consumed,
                                           lag, index))  # fmt: skip
            if lag == 0:
                if polls is None:
                    polls = self.reader.polls
                if self.reader.polls >= polls + 2 and await self.reader.caught_up():
                    return round(time.monotonic() - start, 3)
            await asyncio.sleep(0.1)  # poll interval inside the deadline
        return None

    async def step(self, rate: float, seconds: float, index: int) -> StepResult:
        """Send at `rate` for `seconds`, wait for the service to drain, measure."""
        cfg, sender = self.cfg, self.sender
        step = StepResult(target_rate=rate, first_seq=len(self.sent_ts))
        before = await prom_scrape.scrape(cfg.metrics_urls)
        self.metrics_seen = self.metrics_seen or before is not None
        consumed_before = (await self.probe.lag(sender.stats.acked))[1]
        errors_before = sender.stats.errors
        stop = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(seconds, stop.set)
        pacer = Pacer(Pace(rate=rate))
        watcher = asyncio.create_task(self._observe(step, pacer, index))
        try:
            sent = await pump(
                self.pool.outbound(self.prefix, len(self.sent_ts)), sender, pacer, stop=stop,
                limit=round(rate * seconds), on_sent=self._on_sent, stamp_due=True,
            )  # fmt: skip
            await sender.drain(timeout=30)
            step.seconds = round(time.monotonic() - pacer.start, 3)
        finally:
            timer.cancel()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        step.last_seq = step.first_seq + sent
        step.sent = sent
        step.errors = sender.stats.errors - errors_before
        step.achieved_rate = round(sent / step.seconds, 1) if step.seconds else 0.0
        lag_end, consumed = await self.probe.lag(sender.stats.acked)
        step.lag_end = lag_end
        step.lag_max = max(step.lag_max, lag_end)
        step.processed_rate = round((consumed - consumed_before) / step.seconds, 1)
        step.lag_end_seconds = round(lag_end / max(step.achieved_rate, 1.0), 3)
        step.drain_seconds = await self._drain(index)
        after = await prom_scrape.scrape(cfg.metrics_urls)
        step.metrics = _metrics_delta(before, after)
        _finish_step(step, self.reader, cfg)
        return step


async def run_loadtest(cfg: LoadTestConfig, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    options = tool_options(cfg.bootstrap_servers)
    await partition_ids(options, [*cfg.input_topics, cfg.review_topic])  # fail fast if missing
    pool = (
        Pool.from_recording(cfg.replay, cfg.pool_size, cfg.input_topics)
        if cfg.replay
        else Pool.generated(cfg.pool_size, cfg.seed, cfg.violation_rate, cfg.input_topics)
    )
    started_at = datetime.now(UTC).isoformat()
    warmup: StepResult | None = None
    with Live(_live_view([], None, None), console=console, refresh_per_second=4,
              transient=True) as live:  # fmt: skip
        run = _Run(cfg, options, pool, live)
        await run.start()
        try:
            if cfg.warmup_seconds > 0 and cfg.steps:
                # Not measured: lets the service join its group and warm up; must drain.
                warmup = await run.step(cfg.steps[0], cfg.warmup_seconds, -1)
            if warmup is None or warmup.drain_seconds is not None:
                for index, rate in enumerate(cfg.steps):
                    step = await run.step(rate, cfg.step_seconds, index)
                    run.steps.append(step)
                    live.update(_live_view(run.steps, None, None))
                    if not step.sustainable and not cfg.keep_going:
                        break
        finally:
            await run.close()
    steps = run.steps
    good = [s for s in steps if s.sustainable]
    return {
        "started": started_at,
        "bootstrap_servers": options.get("bootstrap_servers"),
        "input_topics": cfg.input_topics,
        "review_topic": cfg.review_topic,
        "group_id": cfg.group_id,
        "source": pool.source,
        "run_prefix": run.prefix,
        "step_seconds": cfg.step_seconds,
        "criteria": {"min_achieved": cfg.min_achieved, "lag_tolerance_s": cfg.lag_tolerance_s,
                     "max_p99_ms": cfg.max_p99_ms, "drain_seconds": cfg.drain_seconds},
        "warmup": None if warmup is None else _step_dict(warmup),
        "max_sustainable_rate": max((s.achieved_rate for s in good), default=None),
        "max_sustainable_step": max((s.target_rate for s in good), default=None),
        "steps": [_step_dict(s) for s in steps],
        "detection": detection(pool, len(run.sent_ts), run.reader),
        "metrics_urls": cfg.metrics_urls,
        "metrics_available": run.metrics_seen,
        "timeline": [asdict(s) for s in run.samples],
    }  # fmt: skip


def _step_dict(step: StepResult) -> dict[str, Any]:
    d = asdict(step)
    del d["first_seq"], d["last_seq"]
    return d


def _finish_step(step: StepResult, reader: ReviewReader, cfg: LoadTestConfig) -> None:
    latencies = [
        lat for seq, lat in zip(reader.seqs, reader.latency_ms, strict=True)
        if step.first_seq <= seq < step.last_seq
    ]  # fmt: skip
    step.latency_ms = _percentiles(latencies)
    step.flagged = len({s for s in reader.seqs if step.first_seq <= s < step.last_seq})
    reasons = []
    if step.achieved_rate < cfg.min_achieved * step.target_rate:
        reasons.append(f"input rate {step.achieved_rate:,.0f}/s below "
                       f"{cfg.min_achieved:.0%} of target")  # fmt: skip
    if step.errors:
        reasons.append(f"{step.errors} produce errors")
    if step.lag_end > cfg.lag_tolerance_s * step.target_rate:
        reasons.append(f"lag {step.lag_end:,} at step end (> {cfg.lag_tolerance_s:g}s of traffic)")
    p99 = step.latency_ms.get("p99")
    if p99 is not None and p99 > cfg.max_p99_ms:
        reasons.append(f"p99 latency {p99:,.0f} ms > {cfg.max_p99_ms:,.0f} ms")
    if step.drain_seconds is None:
        reasons.append(f"backlog not drained within {cfg.drain_seconds:g}s")
    step.reasons = reasons
    step.sustainable = not reasons


def dumps(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
