"""`screener replay FILE --to TOPIC`: produce a recording back, paced, keys/headers/order kept.

Per-key order holds because a recording keeps each partition's order, a key maps to one
partition, and batches of one partition are delivered in order. `--preserve-partitions`
sends each record to the partition it was recorded from (a replica of the topic's layout).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from screener.kafka import make_producer, tool_options
from screener.traffic.pacing import Outbound, Pace, Pacer, RateWindow, pump
from screener.traffic.recording import RecordingReader
from screener.traffic.sender import BatchSender


class ReplayError(RuntimeError):
    """The recording cannot be replayed as asked (e.g. a partition the target lacks)."""


@dataclass
class ReplaySummary:
    sent: int
    errors: int
    elapsed_s: float
    achieved_rate: float
    pace: str
    target_rate: float | None
    records_read: int
    truncated_bytes: int
    last_error: str | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def producer_options(
    bootstrap_servers: str | None, *, acks: str = "all", compression: str = "none",
    batch_bytes: int = 256 * 1024,
) -> dict[str, Any]:  # fmt: skip
    return {
        **tool_options(bootstrap_servers),
        "acks": int(acks) if acks in ("0", "1") else acks,
        "compression_type": None if compression == "none" else compression,
        "max_batch_size": batch_bytes,
        "max_request_size": max(batch_bytes * 4, 1 << 20),
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
    }


def _outbound(
    reader: RecordingReader, to_topic: str | None, preserve_partitions: bool
) -> Iterator[Outbound]:
    for rec in reader:
        yield (
            to_topic or rec.topic, rec.key, rec.value, rec.headers, rec.timestamp,
            rec.partition if preserve_partitions else None,
        )  # fmt: skip


async def _check_partitions(sender: BatchSender, path: Path, to_topic: str | None) -> None:
    """With --preserve-partitions, every recorded partition must exist in the target."""
    from screener.traffic.recording import scan

    needed: dict[str, int] = {}
    for topic, partition in scan(path).next_offsets:
        target = to_topic or topic
        needed[target] = max(needed.get(target, 0), partition + 1)
    for topic, count in needed.items():
        have = await sender.partition_count(topic)
        if have < count:
            raise ReplayError(
                f"--preserve-partitions: topic {topic!r} has {have} partitions, "
                f"the recording needs {count}"
            )


async def replay(
    path: Path, bootstrap_servers: str | None, *, to_topic: str | None, pace: Pace,
    rewrite_timestamps: bool = False, preserve_partitions: bool = False,
    limit: int | None = None, acks: str = "all", compression: str = "none",
    console: Console | None = None,
) -> ReplaySummary:  # fmt: skip
    console = console or Console(stderr=True)
    reader = RecordingReader(path)
    producer = make_producer(producer_options(bootstrap_servers, acks=acks,
                                                   compression=compression))  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await producer.start()
    sender = BatchSender(producer)
    window = RateWindow()
    progress = Progress(
        TextColumn("[bold]replay[/]"), BarColumn(), DownloadColumn(),
        TextColumn("{task.fields[sent]:>12,} sent"),
        TextColumn("target [cyan]{task.fields[target]}[/]"),
        TextColumn("achieved [green]{task.fields[rate]:>10,.0f}/s[/]"),
        TextColumn("[red]{task.fields[errors]} errors"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )  # fmt: skip
    task = progress.add_task("replay", total=reader.size, sent=0, rate=0.0, errors=0,
                             target=pace.describe())  # fmt: skip
    started = time.monotonic()
    elapsed = 0.0

    def tick(count: int) -> None:
        rate = window.add(time.monotonic(), sender.stats.acked)
        progress.update(task, completed=reader.position, sent=sender.stats.acked, rate=rate,
                        errors=sender.stats.errors)  # fmt: skip

    try:
        if preserve_partitions:
            await _check_partitions(sender, path, to_topic)
        with progress:
            pacer = Pacer(pace)
            started = pacer.start
            await pump(
                _outbound(reader, to_topic, preserve_partitions), sender, pacer, stop=stop,
                limit=limit, rewrite_timestamps=rewrite_timestamps, on_tick=tick,
                flush_every=0.005 if pace.rate or pace.speed else 0.05,
            )  # fmt: skip
            await sender.drain()
            elapsed = time.monotonic() - started
            tick(sender.stats.appended)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 30)
    stats = sender.stats
    return ReplaySummary(
        sent=stats.acked, errors=stats.errors + (stats.appended - stats.acked - stats.errors),
        elapsed_s=round(elapsed, 3),
        achieved_rate=round(stats.acked / elapsed, 1) if elapsed > 0 else 0.0,
        pace=pace.describe(), target_rate=pace.rate, records_read=reader.records,
        truncated_bytes=reader.truncated, last_error=stats.last_error,
        error_kinds=stats.error_kinds,
    )  # fmt: skip


def summary_table(summary: ReplaySummary) -> Table:
    table = Table(title="replay summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("sent (acknowledged)", f"{summary.sent:,}")
    table.add_row("errors", f"{summary.errors:,}")
    table.add_row("elapsed", f"{summary.elapsed_s:.2f} s")
    table.add_row("pace", summary.pace)
    table.add_row("achieved rate", f"{summary.achieved_rate:,.0f} msg/s")
    if summary.target_rate:
        table.add_row("achieved / target", f"{summary.achieved_rate / summary.target_rate:.1%}")
    if summary.truncated_bytes:
        table.add_row("incomplete tail ignored", f"{summary.truncated_bytes:,} bytes")
    if summary.last_error:
        table.add_row("last error", summary.last_error)
    return table
