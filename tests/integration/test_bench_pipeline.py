"""`screener bench pipeline` end to end on the embedded broker (small, to keep it quick)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from pipeline_support import ROOT

from screener.measure.bench_pipeline import memory_for_kafka, quix_python
from screener.pipeline.settings import Settings


def test_bench_pipeline_reports_every_contender_against_the_yardsticks() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "screener", "bench", "pipeline", "--messages", "20000",
         "--duration", "1", "--workers", "2", "--rounds", "2", "--json"],
        capture_output=True, timeout=900, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = orjson.loads(out.stdout)
    names = [c["name"] for c in result["contenders"]]
    quix = ["naive Quix Streams filter"] if quix_python(None) else []
    assert names == ["minimal aiokafka loop", *quix, "screener, 1 worker", "screener, 2 workers"]
    for c in result["contenders"]:
        assert len(c["per_round"]) == 2 and all(x > 0 for x in c["per_round"])
        assert c["latency_samples"] > 0
        assert 0 < c["p50_ms"] <= c["p95_ms"] <= c["p99_ms"] <= c["max_ms"]
        # the floor: the same feed seen by a plain consumer of the input (no worker)
        assert 0 <= c["floor_p50_ms"] <= c["floor_p99_ms"] < float("inf")
        assert c["fed_per_s"] > 0  # the feeder process reports the rate it reached
        # ...and how late it queued records (counted in the latency: stamps are due times)
        assert 0 <= c["fed_behind_p99_ms"] <= c["fed_behind_max_ms"]
        # latency is measured at half the contender's own sustainable rate
        assert abs(c["latency_rate"] - 0.5 * c["msgs_per_s"]) <= 1
    over = result["screener_1_worker_over"]
    assert set(over) == {"minimal aiokafka loop", *quix, "screener, 2 workers"}
    assert all(len(r["per_round"]) == 2 and r["median"] > 0 for r in over.values())
    # the generated stream has 5% violations and the shipped packs flag them
    assert 0.03 < result["flagged_share"] < 0.08
    assert "contender" in out.stderr.decode()  # the table went to stderr beside the JSON
    assert "feed behind its schedule" in out.stderr.decode()
    # the second round takes its turns in reverse: nobody always runs first or last
    turns = re.findall(r"^round (\d): (.+): [\d,]+ msgs/s$", out.stderr.decode(), re.M)
    assert [n for r, n in turns if r == "1"] == names
    assert [n for r, n in turns if r == "2"] == names[::-1]


@pytest.mark.kafka
def test_bench_pipeline_on_apache_kafka() -> None:
    """`--broker kafka`: the bench starts Apache Kafka from the Maven jars itself (Kafka has no
    group coordinator until a group's first request: the bench must wait for it), its log in
    memory by default (a directory on /dev/shm, removed at the end)."""
    before = set(Path("/dev/shm").glob("screener-bench-kafka-*"))
    out = subprocess.run(
        [sys.executable, "-m", "screener", "bench", "pipeline", "--broker", "kafka",
         "--messages", "16000", "--duration", "1", "--workers", "1", "--json"],
        capture_output=True, timeout=900, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = orjson.loads(out.stdout)
    where = "in memory" if memory_for_kafka() else "on disk"  # /dev/shm too small: on disk
    assert result["broker"] == f"Apache Kafka (log {where})"
    assert set(Path("/dev/shm").glob("screener-bench-kafka-*")) <= before  # removed at the end
    names = [c["name"] for c in result["contenders"]]
    quix = ["naive Quix Streams filter"] if quix_python(None) else []
    assert names == ["minimal aiokafka loop", *quix, "screener, 1 worker"]
    assert all(c["msgs_per_s"] > 0 and c["latency_samples"] > 0 for c in result["contenders"])


def test_bench_pipeline_sweeps_a_setting_beside_the_defaults() -> None:
    """`--sweep`: one more 1-worker screener per value, measured like the others — here a
    worker committing every batch beside the default 1 s interval, both timed from their
    output over most of a backlog far shorter than one interval's worth of commits."""
    messages = 16_000  # at 6,000 a faster worker showed its whole output in one poll (no rate)
    out = subprocess.run(
        [sys.executable, "-m", "screener", "bench", "pipeline", "--messages", str(messages),
         "--duration", "1", "--workers", "1", "--partitions", "2",
         "--sweep", "commit_interval_ms=0", "--json"],
        capture_output=True, timeout=900, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = orjson.loads(out.stdout)
    assert result["partitions"] == 2  # --partitions
    by_name = {c["name"]: c for c in result["contenders"]}
    swept = by_name["screener, 1 worker, commit_interval_ms=0"]
    assert swept["msgs_per_s"] > 0 and swept["latency_samples"] > 0
    assert swept["p50_ms"] <= swept["p99_ms"] <= swept["max_ms"]
    # the paced partitions were warmed up (state restored) before the measured feed, and
    # every second of the feed has its p99
    assert swept["warmup_s"] > 0 and len(swept["p99_ms_by_second"]) >= 1
    assert max(swept["p99_ms_by_second"]) <= swept["max_ms"]
    # the floor by second, from the same feed (the second of a p99 is the host's or the worker's)
    assert 1 <= len(swept["floor_p99_ms_by_second"]) <= len(swept["p99_ms_by_second"]) + 1
    assert all(v >= 0 for v in swept["floor_p99_ms_by_second"] if v == v)  # NaN: none seen
    # every contender's rate spans most of the backlog (all but its first batch of <= 2,000):
    # with the 1 s interval the worker commits it in one or two steps, which the old
    # commit-progress measure could not time
    for c in result["contenders"]:
        assert all(messages // 2 <= t <= messages for t in c["timed_records"]), c
    assert result["settings"]["commit_interval_ms"] == Settings().commit_interval_ms == 1000
    assert "screener, 1 worker, commit_interval_ms=0" in result["screener_1_worker_over"]
    refused = subprocess.run(
        [sys.executable, "-m", "screener", "bench", "pipeline", "--sweep", "nonsense=1"],
        capture_output=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and b"nonsense" in refused.stderr
