"""`--workers N`: N worker processes in one consumer group under one supervisor.

Kafka distributes partitions among the workers; the supervisor only keeps them alive:
it forwards SIGTERM/SIGINT (and SIGHUP: reload rules), restarts a worker that dies, and gives
up (exit 1) when workers keep dying (more than `max_restarts` within `window_s`), rather than
crash-looping forever. A worker that exits with a code in `FINAL` (its configuration refused,
or no broker within `--connect-timeout-s`) is not restarted: the supervisor stops the others
and exits with that code.

With a metrics port it also serves `/metrics`, `/healthz` and `/readyz` for all its workers:
they run with `--metrics-port 0` and write their metrics to a shared directory
(prometheus-client multiprocess mode, see `screener.metrics`), which the supervisor merges on
each scrape, adding its own `screener_worker_restarts_total`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from types import FrameType

from screener.metrics import WorkerPoolMetrics
from screener.status_server import StatusServer

FINAL = {2: "its configuration was refused", 3: "no Kafka broker answered in time"}
"""Worker exit codes a restart cannot cure (see `screener.pipeline.service`)."""


class Supervisor:
    def __init__(
        self, argv: Sequence[str], workers: int, *, max_restarts: int = 5, window_s: float = 60.0,
        shutdown_timeout_s: float = 30.0, metrics_port: int = 0, metrics_host: str = "0.0.0.0",
    ):  # fmt: skip
        self.argv = list(argv)
        self.workers = workers
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts: deque[float] = deque()
        self.stopping = False
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.metrics: WorkerPoolMetrics | None = None
        self.server: StatusServer | None = None

    def _spawn(self, index: int) -> None:
        env = {**os.environ, "SCREENER_WORKER_INDEX": str(index)}
        argv = [*self.argv, "--workers", "1"]
        if self.metrics is not None:  # the supervisor serves the workers' merged metrics
            env |= self.metrics.child_env()
            argv += ["--metrics-port", "0"]
        self.procs[index] = subprocess.Popen(argv, env=env)

    def _reload(self, signum: int, frame: FrameType | None) -> None:
        """SIGHUP: every worker reloads its rules (none stops)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    def run(self) -> int:
        if self.metrics_port:
            self.metrics = WorkerPoolMetrics(self.workers)
            self.server = StatusServer.start_or_warn(
                self.metrics_port,
                self.metrics.registry,
                self.metrics.readiness,
                self.metrics_host,
            )
        try:
            return self._supervise()
        finally:
            if self.server is not None:
                self.server.close()
            if self.metrics is not None:
                self.metrics.close()

    def _supervise(self) -> int:
        signal.signal(signal.SIGTERM, self._forward)
        signal.signal(signal.SIGINT, self._forward)
        signal.signal(signal.SIGHUP, self._reload)
        for i in range(self.workers):
            self._spawn(i)
        while True:
            if self.stopping:
                return self._drain()
            for index, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None or self.stopping:
                    continue
                if self.metrics is not None:
                    self.metrics.worker_exited(proc.pid)
                if code in FINAL:
                    print(f"supervisor: worker {index} exited with {code} ({FINAL[code]}); "
                          "stopping the others", file=sys.stderr)  # fmt: skip
                    self._forward(signal.SIGTERM, None)
                    self._drain()
                    return code
                now = time.monotonic()
                self.restarts.append(now)
                while self.restarts and now - self.restarts[0] > self.window_s:
                    self.restarts.popleft()
                if len(self.restarts) > self.max_restarts:
                    print(f"supervisor: workers keep dying ({len(self.restarts)} restarts in "
                          f"{self.window_s:.0f}s); giving up", file=sys.stderr)  # fmt: skip
                    self._forward(signal.SIGTERM, None)
                    self._drain()
                    return 1
                print(f"supervisor: worker {index} exited with {code}; restarting",
                      file=sys.stderr)  # fmt: skip
                if self.metrics is not None:
                    self.metrics.worker_restarted()
                self._spawn(index)
            time.sleep(0.2)

    def _drain(self) -> int:
        deadline = time.monotonic() + self.shutdown_timeout_s
        code = 0
        # a worker still starting up may be ended by the forwarded signal itself: that is clean
        clean = {0, -signal.SIGTERM, -signal.SIGINT}
        for proc in self.procs.values():
            try:
                code |= proc.wait(max(0.1, deadline - time.monotonic())) not in clean
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = 1
        return code
