"""aiokafka's failures inside its own background routines, logged as one line each.

When the broker goes away mid-request (a restart), aiokafka's background routines can fail:
the producer's sender routine when a transaction's coordinator lookup meets a closed
connection, the consumer's fetcher routine likewise, a connection's reader with an error that
is not an OSError. aiokafka logs each with `log.exception` and then raises the failure into the
API the service calls (a producer in its fatal state, which the exactly-once delivery replaces;
a failed fetch), where the service handles it and says so in its own warning. A dead
producer's internal future then fails with nobody left to read it, which asyncio reports at
shutdown as "exception was never retrieved"; so does a connection's reader future failed by a
reset connection (`ConnectionResetError` out of `aiokafka/conn.py`, seen when SIGTERM met a
broker outage in CI). All of these print tracebacks of aiokafka's
internals for a condition that was dealt with, and operators read tracebacks as bugs. So each
becomes one line that still names the exception chain; every other record passes untouched.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

# (logger, message) of aiokafka's routine failures whose error reaches the API afterwards
ROUTINE_FAILURES = (
    ("aiokafka.producer.sender", "Unexpected error in sender routine"),
    ("aiokafka.consumer.fetcher", "Unexpected error in fetcher routine"),
    ("aiokafka.conn", "Unexpected exception in AIOKafkaConnection"),
)
_NEVER_RETRIEVED = ("Future exception was never retrieved", "Task exception was never retrieved")

log = logging.getLogger("screener.kafka")


def chain(exc: BaseException | None) -> str:
    """`Outer: msg <- Cause: msg <- …`: the exception and its causes, one line."""
    parts: list[str] = []
    while exc is not None and len(parts) < 5:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


class RoutineFailure(logging.Filter):
    """Drops the traceback from aiokafka's routine-failure records, naming the chain instead."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage() == self.message:
            record.msg, record.args = "%s (%s)", (self.message, chain(record.exc_info[1]))
            record.exc_info, record.exc_text = None, None
        return True


def quiet_routine_failures() -> None:
    """Install the filters on aiokafka's loggers (idempotent)."""
    for name, message in ROUTINE_FAILURES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineFailure) for f in logger.filters):
            logger.addFilter(RoutineFailure(message))


def exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's handler: an aiokafka error nobody read is one warning line; all else as
    asyncio's default handler reports it."""
    exc = context.get("exception")
    if context.get("message") in _NEVER_RETRIEVED and (
        isinstance(exc, KafkaError) or (isinstance(exc, ConnectionError) and _in_aiokafka(exc))
    ):
        log.warning("an aiokafka client's unread failure, after it was replaced: %s", chain(exc))
        return
    loop.default_exception_handler(context)


def _in_aiokafka(exc: BaseException) -> bool:
    """Whether `exc` was raised through aiokafka's own code (a connection error of ours is not)."""
    return any(
        "aiokafka" in Path(frame.f_code.co_filename).parts
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )
