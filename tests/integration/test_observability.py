"""Prometheus, for real: promtool checks the config and rules and runs the alert unit tests, and
a real Prometheus scrapes `screener run --workers 2` under traffic, so every query the Grafana
dashboard and the alerts use is proven to run against the series the service exports.

Needs `prometheus` and `promtool` on PATH (Debian: `apt-get install prometheus`); without them
these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipeline_support import MALFORMED, Service, http_get, make_events, new_topics

from screener.brokers import BrokerProcess
from screener.brokers._process import free_port
from screener.kafka import make_producer

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "screener.json"
GRAFANA_VARIABLES = {"$job": ".+", "$__rate_interval": "20s", "$__range": "5m"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: install Prometheus (Debian/Ubuntu: "
            "`apt-get install prometheus`, which also provides promtool)",
            pytrace=False,
        )
    return path


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, Grafana variables substituted."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"unsubstituted variable in {panel['title']}: {expr}"
            out.append((panel["title"], expr))
    return out


def test_promtool_check_config() -> None:
    result = _run(_tool("promtool"), "check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_covers_every_alert() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
    tested = {
        case["alertname"] for path in tests
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # a case where the alert fires, not only one where it doesn't
    }  # fmt: skip
    assert {rule["alert"] for rule in alert_rules()} <= tested
    result = _run(_tool("promtool"), "test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


# -- a real Prometheus scraping a real service ----------------------------------------------------


class Prometheus:
    def __init__(self, tmp: Path, target: str, port: int):
        self.url = f"http://127.0.0.1:{port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {"job_name": "screener", "static_configs": [{"targets": [target]}]}
            ],
        }  # fmt: skip
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = (tmp / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [_tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        code, body = http_get(url)
        if not body:
            return {"status": "unreachable", "code": code}
        return json.loads(body)

    def query(self, expr: str) -> Any:
        return self.api("query", query=expr)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def prometheus_port() -> int:
    _tool("prometheus")
    return free_port()


@pytest.fixture
def started() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        thing.close()


async def _traffic(bootstrap: str, topic: str, stop: asyncio.Event) -> None:
    """~800 events/s with some malformed records, until `stop` is set."""
    events = make_events(4000, "obs", seed=11)
    producer = make_producer({"bootstrap_servers": bootstrap}, linger_ms=10)
    await producer.start()
    try:
        chunks = itertools.cycle(range(0, len(events), 400))
        while not stop.is_set():
            lo = next(chunks)
            for i, value in enumerate([*events[lo : lo + 400], MALFORMED[lo // 400 % 4]]):
                await producer.send(topic, value, key=f"u{i % 97}".encode())
            await producer.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)  # pacing, not synchronisation
    finally:
        await producer.stop()


async def _until(what: str, timeout: float, check: Any) -> Any:
    """Poll `check()` (run in a thread: it does blocking HTTP) until it returns a true value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        ok, last = await asyncio.to_thread(check)
        if ok:
            return last
        await asyncio.sleep(0.5)  # poll interval inside the deadline
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last}")


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(screener_[a-z_]+|up)\b(?=\s*[{\[)])", expr))


async def test_prometheus_sees_both_workers_and_every_dashboard_and_alert_query(
    tansu: BrokerProcess, tmp_path: Path, started: list[Any], topic_factory: Any,
    prometheus_port: int,
) -> None:  # fmt: skip
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    metrics_port = free_port()
    service = Service(bootstrap, topics, f"g-{uuid.uuid4().hex[:6]}", "--workers", "2",
                      "--metrics-port", str(metrics_port)).start()  # fmt: skip
    started.append(service)
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}", prometheus_port)
    started.append(prometheus)
    stop = asyncio.Event()
    traffic = asyncio.create_task(_traffic(bootstrap, topics["input"], stop))
    try:
        # the supervisor serves both workers: ready once both are connected with partitions
        await _until(
            "/readyz of the supervisor", 120,
            lambda: (http_get(f"http://127.0.0.1:{metrics_port}/readyz")[0] == 200,
                     http_get(f"http://127.0.0.1:{metrics_port}/readyz")),
        )  # fmt: skip
        workers = await _until(
            "one scrape showing two running workers", 120,
            lambda: _scalar(prometheus, 'count(screener_worker_up{job="screener"} == 1)', 2),
        )  # fmt: skip
        assert workers == 2

        # every panel query of the dashboard returns data
        queries = dashboard_queries()
        assert len(queries) >= 20

        def dashboard_has_data() -> tuple[bool, list[str]]:
            empty = [f"{title}: {expr}" for title, expr in queries
                     if not _has_data(prometheus.query(expr))]  # fmt: skip
            return not empty, empty

        await _until("data for every dashboard query", 150, dashboard_has_data)
        label = prometheus.api("label/job/values", **{"match[]": "screener_worker_up"})
        assert "screener" in label["data"]  # the dashboard's $job variable has a value

        # every alert expression is valid and every series it reads exists
        for rule in alert_rules():
            result = prometheus.query(rule["expr"])
            assert result["status"] == "success", (rule["alert"], result)
            for name in _metric_names(rule["expr"]):
                assert _has_data(prometheus.query(f"count({name})")), (rule["alert"], name)

        def rules_evaluated() -> tuple[bool, Any]:
            groups = prometheus.api("rules", type="alert")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            bad = [(r["name"], r["health"], r.get("lastError")) for r in rules
                   if r["health"] != "ok"]  # fmt: skip
            return len(rules) == len(alert_rules()) and not bad, bad or len(rules)

        await _until("every alert rule evaluated without error", 60, rules_evaluated)
        firing = [a for a in prometheus.api("alerts")["data"]["alerts"] if a["state"] == "firing"]
        assert not firing, firing
    finally:
        stop.set()
        await traffic
    assert service.stop(signal.SIGTERM, timeout=60) == 0, service.stderr()[-3000:]


def _has_data(response: Any) -> bool:
    return bool(response.get("status") == "success" and response["data"]["result"])


def _scalar(prometheus: Prometheus, expr: str, want: float) -> tuple[bool, Any]:
    response = prometheus.query(expr)
    if not _has_data(response):
        return False, response
    value = float(response["data"]["result"][0]["value"][1])
    return value == want, value
