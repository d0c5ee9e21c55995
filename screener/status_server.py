"""The metrics port: `/metrics` (Prometheus exposition), `/healthz`, `/readyz`.

- `/healthz`: 200 while the process serves at all (liveness: restart me only if this fails).
- `/readyz`: 200 when `ready()` says so, else 503 with the reason in the body.
- `/metrics`: the registry, in the format the scraper asks for (text or OpenMetrics).

A small threaded HTTP server in a daemon thread: the worker's event loop and the supervisor's
wait loop never serve requests themselves, and a scrape never waits for a batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

Readiness = Callable[[], tuple[bool, str]]
log = logging.getLogger("screener.status")


class StatusServer:
    def __init__(
        self, port: int, registry: CollectorRegistry, ready: Readiness, host: str = "0.0.0.0"
    ):
        handler = _handler(registry, ready)
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="status-server", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0: any free port)."""
        return int(self._httpd.server_address[1])

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    @classmethod
    def start_or_warn(cls, port: int, registry: CollectorRegistry, ready: Readiness,
                      host: str = "0.0.0.0") -> StatusServer | None:  # fmt: skip
        """Start, or log why not and return None: a taken port costs the metrics, not the
        screening (two `screener run` on one host; give each its own `--metrics-port`)."""
        try:
            return cls(port, registry, ready, host).start()
        except OSError as exc:
            log.error("metrics port %d unavailable (%s): no /metrics, /healthz or /readyz for "
                      "this process; pass another --metrics-port", port, exc)  # fmt: skip
            return None

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def _handler(registry: CollectorRegistry, ready: Readiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                try:
                    self._reply(200, encoder(registry), content_type)
                except Exception as exc:  # a broken collector must not kill the server
                    self._reply(500, f"collect failed: {exc!r}\n".encode())
            elif path == "/healthz":
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                try:
                    ok, reason = ready()
                except Exception as exc:
                    ok, reason = False, f"readiness check failed: {exc!r}"
                self._reply(200 if ok else 503, reason.encode() + b"\n")
            else:
                self._reply(404, b"not found: try /metrics, /healthz, /readyz\n")

        def _reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: a scrape every second is not news."""

    return Handler
