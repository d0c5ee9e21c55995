"""`screener loadtest` against `screener run --workers 2` on the embedded broker."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from pipeline_support import ROOT, Service, new_topics

from screener.brokers import BrokerProcess, free_port
from screener.cli import default_packs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def wait_for_metrics(url: str, service: Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert service.alive(), f"service exited:\n{service.stderr()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} not serving after {timeout}s")
        time.sleep(0.2)  # poll interval inside the deadline


async def test_loadtest_reports_table_json_and_png(
    tansu: BrokerProcess, tmp_path: Path, topic_factory: Any
) -> None:
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group = f"g-{uuid.uuid4().hex[:6]}"
    port = free_port()
    service = Service(bootstrap, topics, group, "--workers", "2", "--metrics-port", str(port),
                      "--rules", str(default_packs())).start()  # fmt: skip
    json_out, png_out = tmp_path / "lt.json", tmp_path / "lt.png"
    try:
        wait_for_metrics(f"http://127.0.0.1:{port}/metrics", service)
        proc = subprocess.run(
            [sys.executable, "-m", "screener", "loadtest", "--bootstrap-servers", bootstrap,
             "--input-topics", topics["input"], "--review-topic", topics["review"],
             "--group-id", group, "--metrics-url", f"http://127.0.0.1:{port}/metrics",
             "--steps", "400,800", "--step-seconds", "3", "--warmup-seconds", "2",
             "--drain-seconds", "60", "--pool-size", "3000", "--keep-going",
             "--json-out", str(json_out), "--png-out", str(png_out)],
            capture_output=True, timeout=300, cwd=ROOT,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
        assert service.stop(timeout=60) == 0  # the supervisor stops its workers too
    finally:
        service.close()
    table = proc.stdout.decode()
    assert "max sustainable throughput" in table and "p99 ms" in table and "recall" in table

    report = orjson.loads(json_out.read_bytes())
    assert [s["target_rate"] for s in report["steps"]] == [400, 800]
    assert report["warmup"]["drain_seconds"] is not None  # the service consumed the warm-up
    for step in report["steps"]:
        assert step["errors"] == 0
        assert step["sent"] == pytest.approx(step["target_rate"] * 3, rel=0.05)
        assert step["achieved_rate"] == pytest.approx(step["target_rate"], rel=0.05)
        assert step["drain_seconds"] is not None and step["lag_end"] >= 0
        lat = step["latency_ms"]
        assert step["flagged"] > 0 and lat["count"] >= step["flagged"]
        assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] < 60_000
        assert step["sustainable"] == (not step["reasons"])
        assert step["metrics"] is not None and step["metrics"]["consumed_rate"] > 0
    good = [s for s in report["steps"] if s["sustainable"]]
    best = max((s["achieved_rate"] for s in good), default=None)
    assert report["max_sustainable_rate"] == best
    assert report["metrics_available"] is True
    det = report["detection"]
    assert det["positives"] > 0 and 0.5 < det["recall"] <= 1.0
    assert det["false_positive_rate"] < 0.05
    assert set(det["by_category"]) <= {"porn", "solicitation", "illicit_ads", "gambling",
                                       "fraud", "extortion", "abuse"}  # fmt: skip
    assert len(report["timeline"]) >= 4

    data = png_out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    import matplotlib.image

    image = matplotlib.image.imread(png_out)
    assert image.shape[0] > 300 and image.shape[1] > 600
