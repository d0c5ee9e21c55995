"""`screener demo`: the whole service on one machine with nothing installed but the package.

Starts the embedded broker, creates the topics, streams the sample traffic from
`seeds/events/` into them (keyed by user id, looping), runs a worker, and shows a live summary
(rate, flagged by category, latest flagged items) until Ctrl-C or `--duration`, with the
service's metrics on `--metrics-port` (default 9108) as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from screener.brokers.tansu import EmbeddedBroker
from screener.defaults import CHAT_TOPIC, MICROBLOG_TOPIC
from screener.engine import Engine
from screener.kafka import connection_options, ensure_topics, make_producer
from screener.metrics import Metrics
from screener.pipeline.service import start_status_server
from screener.pipeline.settings import Settings
from screener.pipeline.transform import ScreeningProcessor
from screener.pipeline.worker import Worker
from screener.rules import RulePack

JOIN_TIMEOUT_S = 60.0
"""How long the worker may take to get its partitions before the demo gives up."""
NOTE = "at-least-once: the embedded broker has no idempotence or transactions"


def sample_events(directory: Path) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) for every sample event; chat and microblog go to their topics."""
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                event = None
            user = event.get("user") if isinstance(event, dict) else None
            if not isinstance(event, dict) or not isinstance(user, dict):
                # deliberately broken samples (malformed.jsonl) show the DLQ at work
                out.append((CHAT_TOPIC, b"", line))
                continue
            topic = MICROBLOG_TOPIC if event.get("kind") == "microblog" else CHAT_TOPIC
            out.append((topic, str(user.get("id", "")).encode(), line))
    return out


def _stream(samples: list[tuple[str, bytes, bytes]]) -> Iterator[tuple[str, bytes, bytes]]:
    """Loop over the samples forever, giving each pass fresh event ids."""
    for n in itertools.count():
        for topic, key, value in samples:
            if n and key:
                event = orjson.loads(value)
                if isinstance(event, dict) and "id" in event:
                    event["id"] = f"{event['id']}~{n}"
                    value = orjson.dumps(event)
            yield topic, key, value


async def _feed(settings: Settings, samples: list[tuple[str, bytes, bytes]], rate: float,
                stop: asyncio.Event) -> None:  # fmt: skip
    producer = make_producer(connection_options(settings), linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        for sent, (topic, key, value) in enumerate(_stream(samples)):
            if stop.is_set():
                break
            await producer.send(topic, value, key=key)
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0.01:
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), ahead)
        await producer.flush()
    finally:
        await producer.stop()


def _view(worker: Worker, started: float | None, broker: str) -> Group:
    s = worker.stats
    if started is None:  # the first seconds: the consumer group forms (Tansu: ~5 s)
        return Group(f"broker {broker} (embedded, in memory; {NOTE})",
                     "waiting for the worker to join its consumer group …")  # fmt: skip
    elapsed = max(time.monotonic() - started, 1e-9)
    head = Table.grid(padding=(0, 2))
    head.add_row(
        "broker", broker, "consumed", f"{s.consumed:,}", "rate", f"{s.consumed / elapsed:,.0f}/s"
    )
    head.add_row("flagged", f"{s.flagged:,}", "DLQ", f"{s.dlq:,}", "commits", f"{s.commits:,}")
    cats = Table(title="flagged by category", expand=False)
    cats.add_column("category")
    cats.add_column("items", justify="right")
    for category, count in s.by_category.most_common():
        cats.add_row(category, f"{count:,}")
    latest = Table(title="latest flagged", expand=True)
    for column in ("event", "action", "category", "score", "evidence"):
        latest.add_column(column, overflow="fold")
    for v in reversed(s.latest[-8:]):
        evidence = ", ".join(dict.fromkeys(m.text for f in v.findings for m in f.matches))[:60]
        latest.add_row(v.event_id or "", v.action, v.category or "", f"{v.score:g}", evidence)
    return Group(head, f"[dim]delivery {NOTE}[/]", cats, latest)


async def _demo(load: Callable[[], RulePack], samples_dir: Path, duration: float | None,
                rate: float, metrics_port: int, console: Console) -> int:  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    samples = sample_events(samples_dir)
    if not samples:
        console.print(f"no sample events in {samples_dir}")
        return 1
    with console.status("loading the rule packs …"):
        pack = await asyncio.to_thread(load)
    # The broker's own log is for diagnosis, not for the demo's screen: it goes to a file
    # (its tail is in the error if the broker fails to start).
    with tempfile.TemporaryDirectory(prefix="screener-demo-") as tmp, \
            EmbeddedBroker(log_path=Path(tmp) / "tansu.log") as broker:  # fmt: skip
        settings = Settings(
            bootstrap_servers=broker.bootstrap_servers, topic_partitions=3,
            metrics_port=metrics_port,
        )  # fmt: skip
        await ensure_topics(
            connection_options(settings),
            [*settings.input_topics, settings.review_topic, settings.dlq_topic],
            settings.topic_partitions,
        )
        metrics = Metrics.for_settings(settings)
        metrics.rules_loaded(pack.version)
        server = start_status_server(settings, metrics, 0)
        worker = Worker(settings, ScreeningProcessor(Engine(pack), settings), observer=metrics)
        begun = time.monotonic()
        started: float | None = None  # when the worker got its partitions: --duration counts
        tasks = [
            asyncio.create_task(worker.run(stop)),
            asyncio.create_task(_feed(settings, samples, rate, stop)),
        ]
        with Live(_view(worker, started, broker.bootstrap_servers), console=console,
                  refresh_per_second=4) as live:  # fmt: skip
            while not stop.is_set():
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
                now = time.monotonic()
                if started is None and worker.health.assigned:
                    started = now
                live.update(_view(worker, started, broker.bootstrap_servers))
                if started is None and now - begun > JOIN_TIMEOUT_S:
                    stop.set()
                if duration is not None and started is not None and now - started >= duration:
                    stop.set()
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            live.update(_view(worker, started, broker.bootstrap_servers))
        if server is not None:
            server.close()
        for task in tasks:
            # A stop drains the output in flight (delivery waits half the shutdown deadline and
            # the embedded broker is still up), so any error here, Unacknowledged included,
            # is a real one.
            exc = task.exception()
            if exc is not None:
                raise exc  # the CLI words it as one line
        if started is None:
            raise DemoError(
                f"the worker got no partitions from the embedded broker in {JOIN_TIMEOUT_S:.0f}s"
                " (the machine may be overloaded; try again)"
            )
        s = worker.stats
        console.print(f"demo done: {s.consumed:,} consumed, {s.flagged:,} flagged, "
                      f"{s.dlq:,} to the DLQ in {time.monotonic() - started:.1f}s")  # fmt: skip
    return 0


class DemoError(RuntimeError):
    """The demo could not get going (its message is shown as the one error line)."""


def run_demo(
    load: Callable[[], RulePack], samples_dir: Path, duration: float | None, rate: float,
    metrics_port: int,
) -> int:  # fmt: skip
    """Run the demo; `load` gives the rule pack (called under a status line: it takes a while)."""
    from screener.runtime import install_service_loop

    install_service_loop()  # it runs a worker
    return asyncio.run(_demo(load, samples_dir, duration, rate, metrics_port, Console()))
