"""What a first-time user sees from the embedded broker: expected refusals as one INFO line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from screener.brokers import EmbeddedBroker
from screener.brokers._process import free_port
from screener.brokers.tansu import REFUSAL_NOTE

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "tests" / "unit" / "packs" / "basic.yaml"


def _screener(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "screener", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _wait_for(stream: object, needle: str, timeout: float) -> list[str]:
    """Lines read from `stream` up to and including the first holding `needle`."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            line = stream.readline()  # type: ignore[attr-defined]
            if not line:
                break
            lines.append(line)
            if needle in line:
                return lines
    raise AssertionError(f"{needle!r} not seen within {timeout}s; got {lines}")


async def _ask_for_idempotence(servers: str, times: int) -> None:
    for _ in range(times):
        producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True)
        with contextlib.suppress(Exception):  # the refusal is what this test provokes
            await asyncio.wait_for(producer.start(), 10)
        await producer.stop()


def test_screener_broker_shows_the_refusals_once_as_an_info_line() -> None:
    port = free_port()
    proc = _screener("broker", "--port", str(port))
    try:
        seen = _wait_for(proc.stdout, "ready: bootstrap servers", 60)
        asyncio.run(_ask_for_idempotence(f"127.0.0.1:{port}", 3))
        seen += _wait_for(proc.stdout, REFUSAL_NOTE, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    out = "".join(seen) + out
    infos = [line for line in out.splitlines() if line.startswith("INFO ")]
    assert infos == [REFUSAL_NOTE]  # three refusals, one line
    assert "ERROR" not in out + err


def test_run_on_the_embedded_broker_logs_one_info_line_for_the_refused_idempotence(
    tansu: EmbeddedBroker,
) -> None:
    name = f"fr-{uuid.uuid4().hex[:8]}"
    proc = _screener(
        "run", "--bootstrap-servers", tansu.bootstrap_servers, "--rules", str(PACK),
        "--input-topics", f"{name}.in", "--review-topic", f"{name}.review",
        "--dlq-topic", f"{name}.dlq", "--group-id", name, "--metrics-port", "0",
    )  # fmt: skip
    try:
        seen = _wait_for(proc.stderr, "no idempotent producer", 120)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    log = "".join(seen) + rest
    refusal = [line for line in log.splitlines() if "idempotent" in line]
    assert len(refusal) == 1 and " INFO " in refusal[0], log
    assert "InitProducerIdRequest" not in log and " ERROR " not in log, log


def test_demo_screen_holds_only_the_demo() -> None:
    proc = _screener("demo", "--duration", "2", "--metrics-port", "0", "--rules", str(PACK))
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "demo done:" in out
    for noise in ("ERROR", "Unexpected error", "InitProducerId", "tansu broker", "listening on"):
        assert noise not in out + err, (noise, out[-2000:], err[-2000:])
    assert "no idempotence or transactions" in out  # what the user is told instead
