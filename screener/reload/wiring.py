"""One worker's reload machinery: its controller, its pack source and its status reports.

`serve` starts it before the worker consumes (with `--rules-source kafka` it first takes the
newest valid published pack, waiting a bounded time for the broker) and closes it after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from screener.kafka import connection_options
from screener.reload.controller import Reloader
from screener.reload.files import FileSource
from screener.rules import RulePack, load_packs

if TYPE_CHECKING:
    from screener.metrics import Metrics
    from screener.pipeline.settings import Settings

log = logging.getLogger("screener.reload")

INITIAL_TIMEOUT_S = 30.0


class Reloading:
    def __init__(
        self, settings: Settings, pack: RulePack, apply: Callable[[RulePack], None],
        rule_paths: Sequence[Path], metrics: Metrics | None = None, worker_index: int = 0,
    ):  # fmt: skip
        self.settings = settings
        self.rule_paths = list(rule_paths)
        self._tasks: list[asyncio.Task[None]] = []
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._status: Any = None
        self.reloader = Reloader(apply, pack.version, metrics, on_change=self._changed)
        self.files = FileSource(
            self.rule_paths, lambda: load_packs(self.rule_paths), settings.rules_poll_s
        )
        self.worker_index = worker_index

    def sighup(self) -> None:
        """Reload the files now (the files source; the Kafka source follows its topic)."""
        if self.settings.rules_source == "files":
            self.files.hup.set()
        else:
            log.info("SIGHUP ignored: rules come from %s (publish a pack there)",
                     self.settings.rules_topic)  # fmt: skip

    def _changed(self) -> None:
        if self._status is not None:
            self._status.status.version = self.reloader.version
            refused = self.reloader.refused
            self._status.status.refused = refused[0] if refused else None
            self._status.changed.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def start(self) -> None:
        s = self.settings
        options = connection_options(s)
        if s.rules_source == "kafka":
            from screener.kafka.rules import RulesTopicSource

            source = RulesTopicSource(options, s.rules_topic, s.create_topics)
            self._closers.append(source.close)
            try:
                published = await asyncio.wait_for(source.start(), INITIAL_TIMEOUT_S)
                if not await source.initial(self.reloader, published):
                    log.warning("no valid pack published on %s yet; screening with %s until "
                                "one is", s.rules_topic, self.reloader.version)  # fmt: skip
            except Exception as exc:  # never stop the worker for it; `run` keeps trying
                log.error("rules topic %s unavailable (%r): screening with %s until it is",
                          s.rules_topic, exc, self.reloader.version)  # fmt: skip
            self._spawn(source.run(self.reloader), "rules-topic")
        else:
            self._spawn(self.files.run(self.reloader), "rule-files")
        if s.status_topic:
            from screener.kafka.rules import StatusPublisher, WorkerStatus

            status = WorkerStatus(s.group_id, self.worker_index, s.rules_source,
                                  self.reloader.version)  # fmt: skip
            self._status = StatusPublisher(options, s.status_topic, status, s.create_topics)
            self._closers.append(self._status.close)
            self._spawn(self._status.run(), "status")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for close in self._closers:
            await close()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r (rules stay as they are)", task.get_name(), task.exception())
