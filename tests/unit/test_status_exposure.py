"""The metrics port exposes three read-only pages where it is told to, and nothing else."""

from __future__ import annotations

import http.client
import socket

import pytest

from screener.metrics import Metrics
from screener.pipeline.settings import Settings
from screener.status_server import StatusServer


def _request(host: str, port: int, method: str, path: str) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture
def server() -> StatusServer:
    s = StatusServer(0, Metrics().registry, lambda: (True, "ready"), host="127.0.0.1").start()
    yield s
    s.close()


@pytest.mark.parametrize(
    "path",
    ["/", "/metrics/", "/metrics/../etc/passwd", "/healthz/x", "/favicon.ico", "/readyz.json",
     "/%2e%2e/", "/debug/pprof"],
)  # fmt: skip
def test_any_other_path_is_404(server: StatusServer, path: str) -> None:
    assert _request("127.0.0.1", server.port, "GET", path) == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_only_get_is_served(server: StatusServer, method: str) -> None:
    assert _request("127.0.0.1", server.port, method, "/metrics") == 501


def test_query_strings_do_not_reach_other_pages(server: StatusServer) -> None:
    assert _request("127.0.0.1", server.port, "GET", "/metrics?name[]=x") == 200
    assert _request("127.0.0.1", server.port, "GET", "/nope?/metrics") == 404


def test_binds_only_the_configured_address() -> None:
    """127.0.0.2 is loopback too on Linux: a server bound there must not answer on 127.0.0.1."""
    s = StatusServer(0, Metrics().registry, lambda: (True, "ready"), host="127.0.0.2").start()
    try:
        assert _request("127.0.0.2", s.port, "GET", "/healthz") == 200
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", s.port), timeout=5),
        ):
            pass
    finally:
        s.close()


def test_metrics_host_is_a_setting_with_a_documented_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().metrics_host == "0.0.0.0"  # all interfaces: what a pod's scraper needs
    monkeypatch.setenv("SCREENER_METRICS_HOST", "127.0.0.1")
    assert Settings().metrics_host == "127.0.0.1"
