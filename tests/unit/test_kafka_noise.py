"""aiokafka's routine failures are one line naming the exception chain; other records and
other loop errors are reported as before."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError

from screener.kafka.noise import (
    ROUTINE_FAILURES,
    RoutineFailure,
    exception_handler,
    quiet_routine_failures,
)

SENDER, SENDER_MESSAGE = ROUTINE_FAILURES[0]


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    """Every aiokafka logger and screener.kafka write here; their filters are restored."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(n) for n, _ in ROUTINE_FAILURES] + [
        logging.getLogger("screener.kafka"),
        logging.getLogger("asyncio"),
    ]
    saved = [(lg, list(lg.filters), lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    try:
        yield out
    finally:
        for lg, filters, level, propagate in saved:
            lg.removeHandler(handler)
            lg.filters[:] = filters
            lg.setLevel(level)
            lg.propagate = propagate


def _sender_routine_failure() -> None:
    """What aiokafka's sender does when a coordinator lookup meets a closed connection."""
    try:
        try:
            raise KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
        except KafkaConnectionError as exc:
            raise KafkaError(repr(exc)) from exc
    except Exception:
        logging.getLogger(SENDER).exception(SENDER_MESSAGE)


def test_without_the_filters_aiokafka_logs_a_traceback(capture: io.StringIO) -> None:
    _sender_routine_failure()
    assert "Traceback" in capture.getvalue()  # the behaviour the filters exist for


def test_a_routine_failure_is_one_line_naming_the_chain(capture: io.StringIO) -> None:
    quiet_routine_failures()
    quiet_routine_failures()  # idempotent: one filter per logger
    for name, _ in ROUTINE_FAILURES:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RoutineFailure) for f in filters) == 1
    _sender_routine_failure()
    assert capture.getvalue().splitlines() == [
        f"{SENDER} ERROR {SENDER_MESSAGE} (KafkaError: KafkaError: KafkaConnectionError"
        "('Connection at 127.0.0.1:9092 closed') <- KafkaConnectionError: KafkaConnectionError:"
        " Connection at 127.0.0.1:9092 closed)"
    ]


def test_other_records_keep_their_traceback(capture: io.StringIO) -> None:
    quiet_routine_failures()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger(SENDER).exception("something else failed")
    logging.getLogger(SENDER).error(SENDER_MESSAGE)  # no exception attached: as it is
    text = capture.getvalue()
    assert "something else failed" in text and "Traceback" in text and "boom" in text
    assert text.rstrip().endswith(f"{SENDER} ERROR {SENDER_MESSAGE}")


def test_an_unread_aiokafka_failure_is_one_warning_line(capture: io.StringIO) -> None:
    loop = asyncio.new_event_loop()
    capture.seek(0)
    capture.truncate()  # the loop's own debug line
    try:
        loop.set_exception_handler(exception_handler)
        failure = KafkaError("Unexpected error during batch delivery")
        loop.call_exception_handler(
            {"message": "Future exception was never retrieved", "exception": failure}
        )
        lines = capture.getvalue().splitlines()
        assert lines == [
            "screener.kafka WARNING an aiokafka client's unread failure, after it was replaced:"
            " KafkaError: KafkaError: Unexpected error during batch delivery"
        ]
        # anything else still goes to asyncio's default handler, traceback and all
        try:
            raise ValueError("not aiokafka")
        except ValueError as exc:
            other = exc
        loop.call_exception_handler(
            {"message": "Future exception was never retrieved", "exception": other}
        )
        assert "Traceback" in capture.getvalue() and "not aiokafka" in capture.getvalue()
    finally:
        loop.close()


def _raised_in(filename: str) -> ConnectionResetError:
    """A ConnectionResetError whose traceback passes through code compiled as `filename`."""
    scope: dict[str, Any] = {}
    exec(compile("def read():\n    raise ConnectionResetError(104, 'reset by peer')\n",
                 filename, "exec"), scope)  # fmt: skip
    try:
        scope["read"]()
    except ConnectionResetError as exc:
        return exc
    raise AssertionError("not raised")


def test_a_reset_connection_aiokafka_never_read_is_one_line_and_ours_is_not(
    capture: io.StringIO,
) -> None:
    loop = asyncio.new_event_loop()
    capture.seek(0)
    capture.truncate()
    try:
        loop.set_exception_handler(exception_handler)
        theirs = _raised_in("site-packages/aiokafka/conn.py")
        loop.call_exception_handler(
            {"message": "Future exception was never retrieved", "exception": theirs}
        )
        assert capture.getvalue().splitlines() == [
            "screener.kafka WARNING an aiokafka client's unread failure, after it was replaced:"
            " ConnectionResetError: [Errno 104] reset by peer"
        ]
        ours = _raised_in("screener/pipeline/worker.py")
        loop.call_exception_handler(
            {"message": "Future exception was never retrieved", "exception": ours}
        )
        assert "Traceback" in capture.getvalue()
    finally:
        loop.close()
