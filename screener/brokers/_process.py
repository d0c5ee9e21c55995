"""Shared lifecycle for broker child processes: spawn, wait until ready, stop, kill.

Brokers run in their own session so a Ctrl-C aimed at the terminal reaches only the
parent, which then shuts the child down in order instead of racing it.
"""

from __future__ import annotations

import abc
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

from screener.brokers._probe import ProbeError, broker_count

LOOPBACK = "127.0.0.1"


class BrokerError(RuntimeError):
    """A broker could not be set up, started or stopped."""


def free_port(host: str = LOOPBACK) -> int:
    """Ask the kernel for an unused TCP port (racy by nature, but fine on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, limit: int = 4000) -> str:
    """Last ``limit`` characters of a log file, for error messages."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


class BrokerProcess(abc.ABC):
    """A broker child process listening on one loopback port."""

    #: Human-readable name used in messages.
    label = "broker"

    def __init__(
        self,
        port: int | None = None,
        *,
        startup_timeout: float = 60.0,
        host: str = LOOPBACK,
    ) -> None:
        self._port = port
        self._host = host
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- hooks -------------------------------------------------------------------
    @abc.abstractmethod
    def _argv(self) -> Sequence[str]:
        """Command line of the broker (called after the port is known)."""

    @property
    @abc.abstractmethod
    def log_path(self) -> Path | None:
        """Where the child's output goes; ``None`` inherits the parent's stdout/stderr."""

    def _prepare(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Create config and data before launch; default: nothing to do."""

    def _relay(self, line: bytes) -> bytes | None:
        """A foreground broker's output line (no log file) on its way to stdout; None drops it.
        Default: nothing is relayed through Python (the child writes to the terminal itself)."""
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError(f"{self.label} has no port until start() is called")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        """Exit status of the last child, ``None`` while it runs or before start."""
        return None if self._proc is None else self._proc.poll()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Launch the broker and return once it serves metadata for itself."""
        if self.running:
            raise BrokerError(f"{self.label} is already running (pid {self.pid})")
        if self._port is None:
            self._port = free_port(self._host)
        self._prepare()
        argv = list(self._argv())
        out: IO[bytes] | None = None
        if self.log_path is not None:
            self._log = out = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        relay = out is None and type(self)._relay is not BrokerProcess._relay
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if relay else out,
                stderr=subprocess.STDOUT if out is not None or relay else None,
                start_new_session=True,
            )
        except OSError as exc:
            self._reap()
            raise BrokerError(f"cannot launch {self.label}: {exc}") from exc
        if relay:
            threading.Thread(target=self._pump, args=(self._proc,), daemon=True).start()
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        delay = 0.01
        while True:
            code = self.returncode
            if code is not None:
                raise BrokerError(
                    f"{self.label} exited with code {code} during start{self._log_hint()}"
                )
            try:
                if broker_count(self._host, self.port, timeout=2.0) > 0:
                    return
                last = ProbeError("metadata lists no broker yet")
            except (OSError, ProbeError) as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"{self.label} not ready on {self.bootstrap_servers} after "
                    f"{self.startup_timeout:.0f}s (last probe: {last}){self._log_hint()}"
                )
            time.sleep(delay)  # poll back-off, not synchronisation
            delay = min(delay * 2, 0.25)

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            shown = self._relay(line)
            if shown is not None:
                sys.stdout.buffer.write(shown)
                sys.stdout.buffer.flush()

    def _log_hint(self) -> str:
        if self.log_path is None:
            return ""
        return f"\n--- {self.log_path} (tail) ---\n{tail(self.log_path)}"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM for an orderly shutdown; SIGKILL if it outlives ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap()

    def kill(self) -> None:
        """SIGKILL: simulate a crash (no flush, no controlled shutdown)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._reap()

    def _reap(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.bootstrap_servers if self._port is not None else "unstarted"
        return f"<{type(self).__name__} {where} pid={self.pid}>"


def serve_forever(broker: BrokerProcess) -> int:
    """Start ``broker``, print its address, block until SIGINT/SIGTERM, stop it.

    Returns a process exit code: 0 after a signal, the child's code if it died first.
    """
    stop = threading.Event()
    started = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not started:  # abort a slow start(); it kills the half-started child
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        broker.start()
        started = True
        print(f"{broker.label} ready: bootstrap servers {broker.bootstrap_servers}", flush=True)
        print("press Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            code = broker.returncode
            if code is not None:
                print(f"{broker.label} exited unexpectedly (code {code})", file=sys.stderr)
                return code or 1
        return 0
    except KeyboardInterrupt:
        return 130
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
