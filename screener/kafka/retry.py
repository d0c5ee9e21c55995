"""One retry/backoff helper for every Kafka wait: capped exponential backoff with jitter.

Jitter ("full jitter" on the upper half: each delay is drawn from [d/2, d]) keeps N workers
restarted together from hammering a broker that just came back in lock-step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("screener.kafka")


@dataclass
class Backoff:
    """Delays 0.5 s, 1 s, 2 s … capped at `cap`, each with jitter; `attempts` counts calls."""

    initial: float = 0.5
    cap: float = 10.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * 2**self.attempts)
        self.attempts += 1
        return self.rng.uniform(base / 2, base) if self.jitter else base


async def sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    """Sleep, but wake as soon as `stop` is set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def retry(
    action: Callable[[], Awaitable[T]],
    what: str,
    *,
    retry_on: tuple[type[BaseException], ...],
    stop: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    attempts: int | None = None,
    timeout_s: float | None = None,
    on_attempt: Callable[[int, BaseException], None] | None = None,
) -> T:
    """`await action()` until it works; errors of `retry_on` are retried with backoff.

    Gives up (re-raising the last error) when `stop` is set, after `attempts` tries, or once
    `timeout_s` has passed since the first try (None: never). Each failed attempt is logged
    once and reported to `on_attempt(attempt, error)`.
    """
    backoff = backoff or Backoff()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    tries = 0
    while True:
        try:
            return await action()
        except retry_on as exc:
            tries += 1
            if on_attempt is not None:
                on_attempt(tries, exc)
            delay = backoff.next_delay()
            if (stop is not None and stop.is_set()) or (attempts is not None and tries >= attempts):
                raise
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                delay = min(delay, left)
            log.warning("%s failed (attempt %d: %s); retrying in %.1fs", what, tries, exc, delay)
            await sleep_or_stop(delay, stop)
