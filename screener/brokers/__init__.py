"""Broker launchers for development and tests: embedded Tansu and real Apache Kafka.

Both run as child processes on loopback ports and are ready (metadata answered) when
``start()`` returns, so callers never need to sleep. Submodules load lazily so that
``python -m screener.brokers.kafka`` does not import itself twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from screener.brokers._process import BrokerError, BrokerProcess, free_port

if TYPE_CHECKING:
    from screener.brokers.kafka import ApacheKafka
    from screener.brokers.tansu import EmbeddedBroker

__all__ = ["ApacheKafka", "BrokerError", "BrokerProcess", "EmbeddedBroker", "free_port"]

_LAZY = {"ApacheKafka": "kafka", "EmbeddedBroker": "tansu"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
