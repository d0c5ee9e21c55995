"""`screener run`: one worker in this process, or a supervisor over N worker processes."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from screener.engine import Engine
from screener.pipeline.settings import Settings
from screener.pipeline.worker import Worker
from screener.rules import RulePack, load_packs

log = logging.getLogger("screener.service")


def load_rules(settings: Settings, default: Path) -> RulePack:
    return load_packs([Path(p) for p in settings.rules] if settings.rules else [default])


def install_event_loop() -> None:
    """uvloop where available: a faster event loop for the same asyncio code."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def serve(settings: Settings, pack: RulePack, worker_index: int = 0) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        settings, Engine(pack, max_text_chars=settings.max_text_chars), worker_index=worker_index
    )
    log.info(
        "worker %d: %s → %s (rules %s)", worker_index, ",".join(settings.input_topics),
        settings.review_topic, pack.version,
    )  # fmt: skip
    await worker.run(stop)
    log.info("worker %d stopped: %d consumed, %d flagged, %d to DLQ", worker_index,
             worker.stats.consumed, worker.stats.flagged, worker.stats.dlq)  # fmt: skip
    return 0


def run_worker(settings: Settings, pack: RulePack, worker_index: int = 0) -> int:
    install_event_loop()
    return asyncio.run(serve(settings, pack, worker_index))
