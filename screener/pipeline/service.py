"""`screener run`: one worker in this process, or a supervisor over N worker processes."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from screener.engine import Engine
from screener.kafka import BrokerUnreachable, TransactionsUnsupported
from screener.kafka.clients import connection_options, start_transactional_producer
from screener.kafka.noise import exception_handler, quiet_routine_failures
from screener.metrics import Metrics, readiness, serving_registry
from screener.pipeline.delivery import Unacknowledged
from screener.pipeline.settings import Settings
from screener.pipeline.stateful import StatefulScreening, StateTopicMismatch
from screener.pipeline.transactional import WorkerFenced, transactional_id_prefix
from screener.pipeline.transform import ScreeningProcessor
from screener.pipeline.worker import Worker
from screener.reload.wiring import Reloading
from screener.rules import RulePack, load_packs
from screener.runtime import install_service_loop, tune_gc, young_threshold
from screener.state.partitioned import PartitionedState
from screener.status_server import StatusServer

EXIT_REFUSED = 2
"""A worker's exit code for a configuration the broker refuses: a restart cannot help."""
EXIT_NO_BROKER = 3
"""A worker's exit code after `--connect-timeout-s` without a broker: a restart cannot help
either (the timeout is the operator's limit), so the supervisor stops too."""

log = logging.getLogger("screener.service")


def kept_state(settings: Settings, pack: RulePack) -> StatefulScreening | None:
    """Behaviour state per partition, with its changelog, when the pack has behaviour rules.
    Rules reloaded later share it (a pack that only then brings behaviour rules needs a
    restart for them: without state they never fire, which the worker says once)."""
    if not pack.behaviour:
        return None
    state = PartitionedState(
        pack.behaviour,
        capacity=settings.state_capacity,
        changelog_format=settings.state_changelog_format,
    )
    return StatefulScreening(settings, state)


def rule_paths(settings: Settings, default: Path) -> list[Path]:
    return [Path(p) for p in settings.rules] if settings.rules else [default]


def load_rules(settings: Settings, default: Path) -> RulePack:
    return load_packs(rule_paths(settings, default), model=settings.model)


async def serve(
    settings: Settings, pack: RulePack, worker_index: int = 0, rule_paths: Sequence[Path] = ()
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # aiokafka's handled failures during a broker restart: one line each, not tracebacks
    loop.set_exception_handler(exception_handler)
    quiet_routine_failures()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics.for_settings(settings, worker_index)
    metrics.rules_loaded(pack.version)
    server = start_status_server(settings, metrics, worker_index)
    state = kept_state(settings, pack)
    engine = Engine(pack, max_text_chars=settings.max_text_chars)
    processor = ScreeningProcessor(engine, settings, state)
    worker = Worker(settings, processor, worker_index=worker_index, observer=metrics, state=state)

    def swap(new: RulePack) -> None:
        # Called on the event loop, where a batch is screened synchronously in one go: the
        # new engine takes effect from the next batch on, never within one.
        processor.engine = Engine(new, max_text_chars=settings.max_text_chars)

    reloading = Reloading(settings, pack, swap, rule_paths, metrics, worker_index)
    loop.add_signal_handler(signal.SIGHUP, reloading.sighup)
    try:
        await reloading.start()
        log.info(
            "worker %d: %s → %s (rules %s from %s)", worker_index,
            ",".join(settings.input_topics), settings.review_topic, reloading.reloader.version,
            settings.rules_source,
        )  # fmt: skip
        await run_until_deadline(worker.run(stop), stop, settings.shutdown_timeout_s)
    except Unacknowledged as exc:  # nothing lost, nothing wrong with the service: one line
        log.warning("worker %d: %s", worker_index, exc)
    except (TransactionsUnsupported, WorkerFenced, BrokerUnreachable, StateTopicMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, TransactionsUnsupported | StateTopicMismatch):
            return EXIT_REFUSED
        return EXIT_NO_BROKER if isinstance(exc, BrokerUnreachable) else 1
    finally:
        await reloading.close()
        if server is not None:
            server.close()
    log.info("worker %d stopped: %d consumed, %d flagged, %d to DLQ", worker_index,
             worker.stats.consumed, worker.stats.flagged, worker.stats.dlq)  # fmt: skip
    return 0


async def run_until_deadline(work: Any, stop: asyncio.Event, deadline_s: float) -> None:
    """Run `work`; once `stop` is set give it `deadline_s` to finish (drain, commit, leave),
    then cancel it. A broker outage can hold a client call past any deadline of its own; then
    the batch in flight is simply not committed (and read again), which `Unacknowledged` says
    in one line instead of a hang or a traceback."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait({task}, timeout=deadline_s)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            raise Unacknowledged()
        await task  # its result, or its exception
    finally:
        stopping.cancel()


def start_status_server(
    settings: Settings, metrics: Metrics, worker_index: int
) -> StatusServer | None:
    """`/metrics`, `/healthz`, `/readyz` on `--metrics-port`; none with port 0 (a supervisor
    runs its workers with port 0 and serves their merged metrics itself)."""
    if not settings.metrics_port:
        return None
    registry = serving_registry(metrics)
    ready = lambda: readiness(registry, [worker_index])  # noqa: E731
    return StatusServer.start_or_warn(settings.metrics_port, registry, ready, settings.metrics_host)


def run_worker(
    settings: Settings, pack: RulePack, worker_index: int = 0, rule_paths: Sequence[Path] = ()
) -> int:
    install_service_loop()
    tune_gc(young_threshold(settings.batch_max_records))
    return asyncio.run(serve(settings, pack, worker_index, rule_paths))


def transactions_refused(settings: Settings) -> str | None:
    """For `--guarantee exactly-once`: None if the broker supports transactions, else why not.

    Checked once before a supervisor spawns workers, so an unsuitable broker is refused with
    one line instead of every worker failing (and being restarted) on its own. Waits while the
    broker is unreachable, like the workers do.
    """
    if settings.guarantee != "exactly-once":
        return None

    async def probe() -> str | None:
        prefix = transactional_id_prefix(settings)
        options = {"acks": "all", **connection_options(settings)}
        try:
            producer = await start_transactional_producer(
                options, f"{prefix}-probe", settings.transaction_timeout_ms, asyncio.Event()
            )
        except TransactionsUnsupported as exc:
            return str(exc)
        await producer.stop()
        return None

    return asyncio.run(probe())
