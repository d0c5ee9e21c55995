"""The Kafka errors callers handle, and the one classification they all need.

"Unreachable" (the broker is not up yet, the connection dropped, a request timed out) is worth
waiting through; an answer that refuses (unsupported request, authorisation) is not.
"""

from __future__ import annotations

from aiokafka.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    ProducerFenced,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)

UNREACHABLE: tuple[type[BaseException], ...] = (
    KafkaConnectionError, NodeNotReadyError, RequestTimedOutError, OSError, TimeoutError,
)  # fmt: skip
"""Errors meaning "could not talk to the broker yet", as opposed to "the broker said no"."""


class BrokerUnreachable(RuntimeError):
    """No broker answered within the time allowed (`--connect-timeout-s`)."""


class TransactionsUnsupported(RuntimeError):
    """The broker answered InitProducerId with a refusal (no transactions, e.g. Tansu)."""


def producer_lost(exc: BaseException) -> bool:
    """True when a transactional producer cannot go on and must be replaced: fenced by a newer
    incarnation of its id, or in aiokafka's fatal state, which refuses the abort with
    `IllegalStateError` (seen here without reading the producer's private state)."""
    return isinstance(exc, ProducerFenced | IllegalStateError)


__all__ = [
    "UNREACHABLE",
    "BrokerUnreachable",
    "IllegalStateError",
    "KafkaConnectionError",
    "KafkaError",
    "ProducerFenced",
    "TopicAlreadyExistsError",
    "TransactionsUnsupported",
    "producer_lost",
]
