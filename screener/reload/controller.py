"""The reload controller: one per worker, it owns "which rules are in use".

A candidate pack (from the files, a SIGHUP, or the rules topic) is compiled in a thread, so
the event loop keeps screening, heartbeating and committing meanwhile; a pack that fails is
refused with every problem logged as `file:line: reason`, counted
(`screener_rules_reloads_total{result="failure"}`), and the old pack keeps running. A good
pack is handed to `apply` on the event loop: screening a batch is synchronous on that loop,
so the swap always falls between two batches and every verdict after it carries the new
`rules_version`. Candidates are compiled one at a time, in the order they were offered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from screener.rules import PackError, RulePack

if TYPE_CHECKING:
    from screener.metrics import Metrics

log = logging.getLogger("screener.reload")

Compile = Callable[[], RulePack]


class Reloader:
    def __init__(
        self, apply: Callable[[RulePack], None], version: str, metrics: Metrics | None = None,
        on_change: Callable[[], None] | None = None,
    ):  # fmt: skip
        self.version = version
        """the version in use."""
        self.refused: list[str] = []
        """the problems of the last refused candidate (empty once one is accepted)."""
        self._apply = apply
        self._metrics = metrics
        self._on_change = on_change
        """called after a swap or a refusal (status reports)."""
        self._lock = asyncio.Lock()

    async def offer(self, build: Compile, origin: str) -> bool:
        """Compile `build()` off the loop; swap it in if it is valid and new. True unless
        refused."""
        async with self._lock:
            started = time.perf_counter()
            try:
                pack = await asyncio.to_thread(build)
            except PackError as exc:
                self._refuse(origin, exc.problems)
                return False
            except Exception as exc:  # a loader bug must not take the worker down either
                log.exception("rules from %s: compile failed", origin)
                self._refuse(origin, [f"{origin}:1: {type(exc).__name__}: {exc}"])
                return False
            seconds = time.perf_counter() - started
            self.refused = []
            if pack.version == self.version:
                log.info("rules from %s unchanged (%s)", origin, pack.version)
                return True
            self._apply(pack)
            previous, self.version = self.version, pack.version
            if self._metrics is not None:
                self._metrics.rules_loaded(pack.version, reload=True)
            log.info("rules reloaded from %s in %.2fs: %s → %s", origin, seconds, previous,
                     pack.version)  # fmt: skip
            if self._on_change is not None:
                self._on_change()
            return True

    def _refuse(self, origin: str, problems: list[str]) -> None:
        self.refused = problems
        for problem in problems:
            log.error("rules reload refused: %s", problem)
        log.error("rules from %s refused (%d problem(s)); still running %s", origin,
                  len(problems), self.version)  # fmt: skip
        if self._metrics is not None:
            self._metrics.rules_reload_failed()
        if self._on_change is not None:
            self._on_change()
