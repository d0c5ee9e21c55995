"""`screener record --topic T… --out FILE`: Kafka topics into a recording, streaming.

Start: the beginning (default), `--from-time`, or the end (`--live`, which also keeps
following). Stop: `--limit` records, `--until` a timestamp (a partition stops at its first
record stamped later), the end offsets seen at start (not `--live`), or Ctrl-C. Records go to
disk in zstd frames at least every second, so an interrupted recording loses at most the
last second, and `--resume` continues it from the next offset of every partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from screener.kafka import (
    Consumer,
    MissingTopic,
    TopicPartition,
    make_consumer,
    partition_ids,
    tool_options,
)
from screener.traffic.pacing import RateWindow
from screener.traffic.recording import RecordingWriter, Scan


class RecordError(RuntimeError):
    """The recording cannot start as asked (missing topic, existing file, …)."""


@dataclass
class RecordSummary:
    records: int
    """Written by this run."""
    total_records: int
    """In the file, including what a resumed recording already held."""
    file_bytes: int
    raw_bytes: int
    elapsed_s: float
    rate: float
    stopped_by: str
    partitions: int
    resumed_from: int = 0
    dropped_tail_bytes: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(text: str) -> int:
    """Epoch milliseconds from `now`, digits (epoch ms) or an ISO 8601 time (UTC if naive)."""
    text = text.strip()
    if text == "now":
        return int(time.time() * 1000)
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a time: {text!r} (use ISO 8601, epoch ms or 'now')") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


async def _partitions(options: dict[str, Any], topics: list[str]) -> list[TopicPartition]:
    try:
        found = await partition_ids(options, topics)
    except MissingTopic as exc:
        raise RecordError(str(exc)) from exc
    return [TopicPartition(topic, p) for topic in topics for p in found[topic]]


async def _start_positions(
    consumer: Consumer, tps: list[TopicPartition], found: Scan,
    from_time: int | None, live: bool,
) -> dict[TopicPartition, int]:  # fmt: skip
    """Seek every partition; returns where each starts."""
    beginning = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    times: dict[TopicPartition, Any] = {}
    if from_time is not None:
        times = await consumer.offsets_for_times({tp: from_time for tp in tps})
    start: dict[TopicPartition, int] = {}
    for tp in tps:
        resumed = found.next_offsets.get((tp.topic, tp.partition))
        if resumed is not None:
            offset = max(resumed, beginning[tp])
        elif from_time is not None:
            hit = times.get(tp)
            offset = hit.offset if hit is not None else ends[tp]
        elif live:
            offset = ends[tp]
        else:
            offset = beginning[tp]
        consumer.seek(tp, offset)
        start[tp] = offset
    return start


async def record(
    topics: list[str], out: Path, bootstrap_servers: str | None, *,
    from_time: int | None = None, until: int | None = None, live: bool = False,
    limit: int | None = None, resume: bool = False, force: bool = False,
    flush_seconds: float = 1.0, console: Console | None = None,
) -> RecordSummary:  # fmt: skip
    console = console or Console(stderr=True)
    if out.exists() and out.stat().st_size and not (resume or force):
        raise RecordError(f"{out} exists: --resume to continue it, --force to replace it")
    meta = {"topics": topics, "created": datetime.now(UTC).isoformat(), "tool": "screener"}
    found = Scan()
    if resume:
        writer, found = RecordingWriter.resume(out, meta)
    else:
        writer = RecordingWriter.create(out, meta)
    options = tool_options(bootstrap_servers)
    consumer = make_consumer(
        options, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20, fetch_max_bytes=32 << 20,
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    per_topic: dict[str, int] = {}
    written = 0
    stopped_by = "end"
    by_until = False
    started = time.monotonic()
    try:
        await consumer.start()
        tps = await _partitions(options, topics)
        consumer.assign(tps)
        start = await _start_positions(consumer, tps, found, from_time, live)
        end: dict[TopicPartition, int] = {} if live else await consumer.end_offsets(tps)
        # The end of a partition is the larger of ListOffsets and the high watermark of the
        # first fetch: some brokers (Tansu 0.6) answer ListOffsets(latest) with the base
        # offset of the last batch, which would stop a recording short.
        known: set[TopicPartition] = set()

        def refine(tp: TopicPartition) -> None:
            if tp not in known and (hw := consumer.highwater(tp)) is not None:
                end[tp] = max(end[tp], hw)
                known.add(tp)

        active = set(tps)
        total = None if live else sum(max(0, end[tp] - start[tp]) for tp in tps)
        window = RateWindow()
        progress = Progress(
            TextColumn("[bold]record[/]"), BarColumn(),
            TextColumn("{task.completed:>12,.0f}/{task.fields[of]}"),
            TextColumn("[green]{task.fields[rate]:>10,.0f} msg/s[/]"),
            TextColumn("{task.fields[mib]:>8.1f} MiB"), TimeElapsedColumn(),
            TimeRemainingColumn(), console=console,
        )  # fmt: skip
        task = progress.add_task("record", total=total, rate=0.0, mib=0.0,
                                 of=f"{total:,}" if total is not None else "live")  # fmt: skip
        last_flush = time.monotonic()
        with progress:
            while active:
                if stop.is_set():
                    stopped_by = "signal"
                    break
                if until is not None and live and time.time() * 1000 > until + 1000:
                    stopped_by = "until"
                    break
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for tp, records in batches.items():
                    if tp not in active:
                        continue
                    if not live:
                        refine(tp)
                    n = 0
                    for rec in records:
                        past_until = until is not None and rec.timestamp > until
                        if past_until or (not live and rec.offset >= end[tp]):
                            by_until = by_until or past_until
                            active.discard(tp)
                            consumer.pause(tp)
                            break
                        if limit is not None and written + n >= limit:
                            break
                        writer.write(rec)
                        n += 1
                    written += n
                    per_topic[tp.topic] = per_topic.get(tp.topic, 0) + n
                if limit is not None and written >= limit:
                    stopped_by = "limit"
                    break
                if not live:
                    for tp in list(active):
                        refine(tp)
                        if tp in known and await consumer.position(tp) >= end[tp]:
                            active.discard(tp)
                            consumer.pause(tp)
                    total = sum(max(0, end[tp] - start[tp]) for tp in tps)
                now = time.monotonic()
                if now - last_flush >= flush_seconds:
                    writer.flush()
                    last_flush = now
                progress.update(
                    task, completed=written, total=total, rate=window.add(now, written),
                    mib=writer.file_bytes / (1 << 20), of="live" if total is None else f"{total:,}",
                )  # fmt: skip
            if stopped_by == "end" and by_until:
                stopped_by = "until"
            progress.update(task, completed=written, mib=writer.file_bytes / (1 << 20))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 10)
    elapsed = time.monotonic() - started
    return RecordSummary(
        records=written, total_records=found.records + written, file_bytes=out.stat().st_size,
        raw_bytes=writer.raw_bytes, elapsed_s=round(elapsed, 3),
        rate=round(written / elapsed, 1) if elapsed > 0 else 0.0, stopped_by=stopped_by,
        partitions=len(tps), resumed_from=found.records, dropped_tail_bytes=found.truncated,
        per_topic=per_topic,
    )  # fmt: skip
