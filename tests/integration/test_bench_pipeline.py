"""`screener bench pipeline` end to end on the embedded broker (small, to keep it quick)."""

from __future__ import annotations

import subprocess
import sys

import orjson
from pipeline_support import ROOT


def test_bench_pipeline_reports_every_contender_against_the_pass_through() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "screener", "bench", "pipeline", "--messages", "20000",
         "--rate", "2000", "--duration", "1", "--workers", "2", "--json"],
        capture_output=True, timeout=600, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = orjson.loads(out.stdout)
    names = [c["name"] for c in result["contenders"]]
    assert names == ["pass-through", "screener, 1 worker", "screener, 2 workers"]
    for c in result["contenders"]:
        assert c["msgs_per_s"] > 0
        assert c["latency_samples"] > 0 and 0 < c["p50_ms"] <= c["p99_ms"]
    assert result["contenders"][0]["ratio"] == 1.0
    # the generated stream has 5% violations and the shipped packs flag them
    assert 0.03 < result["flagged_share"] < 0.08
    assert "contender" in out.stderr.decode()  # the table went to stderr beside the JSON
