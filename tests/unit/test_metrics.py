"""Metrics: what a batch adds up to, bounded labels, readiness, the HTTP endpoints, and
multiprocess aggregation as the supervisor sees it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, Histogram

from screener.engine import Engine
from screener.kafka import ConsumerRecord, TopicPartition
from screener.metrics import (
    LATENCY_BUCKETS,
    Metrics,
    WorkerPoolMetrics,
    _observe_latencies,
    readiness,
)
from screener.observe import BatchReport
from screener.pipeline.settings import Settings
from screener.pipeline.transform import Screened, screen_records
from screener.pipeline.worker import consumer_lag
from screener.status_server import StatusServer

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(input_topics=["chat.events", "microblog.events"])
MALFORMED = [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"kind": "chat", "id": "x"}']


def _record(topic: str, offset: int, value: bytes, ts_ms: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic, offset % 3, offset, ts_ms, 0, b"k", value, None, 1, len(value), [("h", b"v")]
    )


def _event(i: int, text: str, kind: str = "chat") -> bytes:
    return orjson.dumps(
        {"kind": kind, "id": f"evt-{i}", "ts": 1, "user": {"id": f"user-{i}"}, "text": text}
    )


TEXTS = ["约炮加V信", "hello there", "周末约朋友打球加微信", "包夜 1⃣8⃣8⃣1⃣2⃣3⃣4⃣5⃣6⃣7⃣8⃣", "鸡蛋"]


def _batch(engine: Engine, now_ms: int) -> list[ConsumerRecord[bytes, bytes]]:
    records = []
    for i in range(40):
        topic, kind = ("chat.events", "chat") if i % 4 else ("microblog.events", "microblog")
        records.append(_record(topic, i, _event(i, TEXTS[i % len(TEXTS)], kind), now_ms - 300))
    records += [_record("chat.events", 100 + i, v, now_ms - 300) for i, v in enumerate(MALFORMED)]
    return records


def _finished(screened: Screened, screen_seconds: float, acked_at: float) -> BatchReport:
    """The report the worker hands its observers once the batch's output is acknowledged."""
    report = screened.report
    report.screen_seconds, report.acked_at = screen_seconds, acked_at
    return report


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_batch_adds_up(engine: Engine) -> None:
    metrics = Metrics.for_settings(SETTINGS)
    r = metrics.registry
    now = time.time()
    records = _batch(engine, int(now * 1000))
    screened = screen_records(engine, records, SETTINGS)
    metrics.batch_started(len(records))
    assert _value(r, "screener_inflight_records") == len(records)
    metrics.batch_finished(_finished(screened, 0.004, now))
    metrics.flush()  # batches are added up and written at most every flush_interval

    assert _value(r, "screener_inflight_records") == 0
    assert _value(r, "screener_events_consumed_total", topic="chat.events", kind="chat") == 30
    assert _value(r, "screener_events_consumed_total", topic="microblog.events",
                  kind="microblog") == 10  # fmt: skip
    assert _value(r, "screener_events_consumed_total", topic="chat.events", kind="invalid") == 4
    assert _value(r, "screener_events_consumed_total", topic="microblog.events",
                  kind="invalid") == 0  # pre-initialised  # fmt: skip
    flagged = Counter((v.category, v.action) for v in screened.verdicts if v.flagged)
    assert flagged  # the batch does flag something
    for (category, action), count in flagged.items():
        assert _value(r, "screener_events_flagged_total", category=category, action=action) == count
    hits = Counter(f.rule for v in screened.verdicts for f in v.findings)
    for rule, count in hits.items():
        assert _value(r, "screener_rule_hits_total", rule=rule) == count
    assert _value(r, "screener_dlq_records_total", reason="bad_json") == 1
    assert _value(r, "screener_dlq_records_total", reason="bad_utf8") == 1
    assert _value(r, "screener_dlq_records_total", reason="not_object") == 1
    assert _value(r, "screener_dlq_records_total", reason="schema") == 1
    assert _value(r, "screener_produced_records_total", output="dlq") == 4
    assert _value(r, "screener_produced_records_total", output="review") == sum(flagged.values())
    assert _value(r, "screener_batch_size_records_count") == 1
    assert _value(r, "screener_batch_size_records_sum") == len(records)
    assert _value(r, "screener_batch_screening_seconds_sum") == pytest.approx(0.004)
    assert _value(r, "screener_event_screening_seconds_count") == len(records)
    assert _value(r, "screener_event_screening_seconds_sum") == pytest.approx(0.004)
    assert _value(r, "screener_end_to_end_latency_seconds_count") == len(records)
    assert _value(r, "screener_end_to_end_latency_seconds_bucket", le="0.25") == 0
    assert _value(r, "screener_end_to_end_latency_seconds_bucket", le="0.5") == len(records)
    assert _value(r, "screener_end_to_end_latency_seconds_sum") == pytest.approx(
        0.3 * len(records), abs=0.01 * len(records)
    )


def test_batches_are_written_at_most_every_flush_interval(engine: Engine) -> None:
    records = _batch(engine, int(time.time() * 1000))
    screened = screen_records(engine, records, SETTINGS)
    lazy = Metrics.for_settings(SETTINGS, flush_interval=3600)
    eager = Metrics.for_settings(SETTINGS, flush_interval=0)
    for metrics in (lazy, eager):
        for _ in range(3):
            metrics.batch_finished(_finished(screened, 0.01, time.time()))
    assert _value(lazy.registry, "screener_batch_size_records_count") == 0
    assert _value(eager.registry, "screener_batch_size_records_count") == 3
    lazy.flush()
    for metrics in (lazy, eager):
        r = metrics.registry
        assert _value(r, "screener_batch_size_records_count") == 3
        assert _value(r, "screener_events_consumed_total", topic="chat.events", kind="chat") == 90


def test_labels_carry_no_user_ids_event_ids_or_text(engine: Engine) -> None:
    metrics = Metrics.for_settings(SETTINGS)
    metrics.rules_loaded("sha256:abc")
    records = _batch(engine, int(time.time() * 1000))
    metrics.batch_finished(_finished(screen_records(engine, records, SETTINGS), 0.01, time.time()))
    metrics.flush()
    label_values = {
        value for metric in metrics.registry.collect() for s in metric.samples
        for value in s.labels.values()
    }  # fmt: skip
    for value in label_values:
        assert not value.startswith(("user-", "evt-")), value
        assert not any(text in value for text in TEXTS), value
    allowed = {"topic", "kind", "category", "action", "rule", "reason", "output", "result",
               "version", "worker", "partition", "le", "python"}  # fmt: skip
    names = {k for metric in metrics.registry.collect() for s in metric.samples for k in s.labels}
    assert names <= allowed


def test_latency_buckets_match_one_observe_per_value() -> None:
    now = 1_700_000_000.0
    # latencies around bucket edges, zero, huge, a clock ahead of ours, and no timestamp
    latencies = [0.0, 0.01, 0.0100001, 0.011, 0.3, 1.0, 1.5, 59.0, 61.0, 1000.0, 0.1, -2.0]
    stamps = [round((now - lat) * 1000) for lat in latencies] + [-1, 0]
    batched = Histogram("b", "b", registry=CollectorRegistry(), buckets=LATENCY_BUCKETS)
    single = Histogram("s", "s", registry=CollectorRegistry(), buckets=LATENCY_BUCKETS)
    _observe_latencies(lambda value, n: value.inc(n), batched, stamps, now)
    for t in stamps:
        if t > 0:
            single.observe(max(0.0, now - t / 1000))

    def samples(h: Histogram) -> dict[str | None, float]:
        return {s.labels.get("le") or s.name[1:]: s.value for m in h.collect()
                for s in m.samples if not s.name.endswith("_created")}  # fmt: skip

    got, want = samples(batched), samples(single)
    assert got.pop("_sum") == pytest.approx(want.pop("_sum"))
    assert got == want and want["+Inf"] == len(latencies)


def test_rules_info_keeps_one_version_and_counts_reloads() -> None:
    metrics = Metrics()
    r = metrics.registry
    metrics.rules_loaded("sha256:old", 100.0)
    metrics.rules_loaded("sha256:new", 200.0, reload=True)
    metrics.rules_reload_failed()
    old = {"worker": "0", "version": "sha256:old"}
    assert r.get_sample_value("screener_rules_info", old) is None
    assert _value(r, "screener_rules_info", worker="0", version="sha256:new") == 1
    assert _value(r, "screener_rules_loaded_timestamp_seconds") == 200.0
    assert _value(r, "screener_rules_reloads_total", result="success") == 1
    assert _value(r, "screener_rules_reloads_total", result="failure") == 1


class FakeConsumer:
    def __init__(self, highwater: dict[TopicPartition, int], position: dict[TopicPartition, int]):
        self.hw = highwater
        self.pos = position

    def assignment(self) -> set[TopicPartition]:
        return set(self.pos)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.hw.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.pos[tp]


async def test_lag_is_highwater_minus_position_and_leaves_with_the_partition() -> None:
    metrics = Metrics()
    r = metrics.registry
    a, b, c = (TopicPartition("chat.events", p) for p in range(3))
    consumer = FakeConsumer({a: 100, b: 7}, {a: 40, b: 7, c: 0})  # c: no fetch yet
    metrics.assigned({a, b, c})
    metrics.lag(await consumer_lag(consumer))
    assert _value(r, "screener_consumer_lag_records", topic="chat.events", partition="0") == 60
    assert _value(r, "screener_consumer_lag_records", topic="chat.events", partition="1") == 0
    assert (
        r.get_sample_value(
            "screener_consumer_lag_records", {"topic": "chat.events", "partition": "2"}
        )
        is None
    )
    assert _value(r, "screener_assigned_partitions", worker="0") == 3
    assert _value(r, "screener_rebalances_total") == 1
    metrics.revoked({a}, {b, c})
    assert (
        r.get_sample_value(
            "screener_consumer_lag_records", {"topic": "chat.events", "partition": "0"}
        )
        is None
    )
    assert _value(r, "screener_assigned_partitions", worker="0") == 2


def test_commit_and_produce_outcomes() -> None:
    metrics = Metrics.for_settings(SETTINGS)
    r = metrics.registry
    metrics.batch_finished(BatchReport(0, Counter()))
    metrics.batch_finished(BatchReport(0, Counter(), committed=False))
    metrics.batch_aborted()
    metrics.produce_failed({"screening.review": 3})
    assert _value(r, "screener_commits_total") == 1
    assert _value(r, "screener_commit_failures_total") == 2
    assert _value(r, "screener_produce_errors_total", output="review") == 3
    assert _value(r, "screener_produce_errors_total", output="dlq") == 0
    assert _value(r, "screener_produce_retries_total") == 1


def test_readiness_needs_connection_partitions_rules_and_flowing_output() -> None:
    metrics = Metrics()
    r = metrics.registry
    ok, why = readiness(r, [0])
    assert not ok and "no rules loaded" in why and "not connected" in why
    metrics.rules_loaded("sha256:x")
    metrics.connected(True)
    ok, why = readiness(r, [0])
    assert not ok and why == "no partitions assigned; worker 0 rules sha256:x"
    metrics.assigned({TopicPartition("t", 0)})
    ok, why = readiness(r, [0])
    assert not ok and "output not acknowledged" in why
    metrics.ready(True)
    assert readiness(r, [0]) == (True, "ready; worker 0 rules sha256:x")  # /readyz says which
    assert not readiness(r, [0, 1])[0]  # a second expected worker is missing


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_status_server_endpoints() -> None:
    metrics = Metrics()
    state = {"ready": False}
    server = StatusServer(
        0, metrics.registry, lambda: (state["ready"], "why not"), host="127.0.0.1"
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(base + "/healthz") == (200, "ok\n")
        assert _get(base + "/readyz") == (503, "why not\n")
        state["ready"] = True
        assert _get(base + "/readyz")[0] == 200
        code, body = _get(base + "/metrics")
        assert code == 200 and "screener_worker_up" in body and "# TYPE" in body
        assert _get(base + "/nope")[0] == 404
    finally:
        server.close()


WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    from collections import Counter
    from screener.metrics import Metrics
    from screener.observe import BatchReport
    index = int(sys.argv[1])
    m = Metrics(worker=index, input_topics=["t"])
    m.rules_loaded("sha256:v1")
    m.connected(True)
    m.assigned({("t", index)})
    m.ready(True)
    m.batch_finished(BatchReport(0, Counter()))
    m.lag({("t", index): 10 * (index + 1)})
    print("up", flush=True)
    sys.stdin.read()  # stay alive until the test closes stdin
    """
)


def test_multiprocess_merges_workers_and_forgets_dead_ones_gauges(tmp_path: Path) -> None:
    pool = WorkerPoolMetrics(2, directory=str(tmp_path / "mp"))
    env = {**os.environ, **pool.child_env()}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(i)], env=env, cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "up\n"
        r = pool.registry
        assert _value(r, "screener_commits_total") == 2
        assert _value(r, "screener_worker_up", worker="0") == 1
        assert _value(r, "screener_worker_up", worker="1") == 1
        for w in ("0", "1"):  # one series per worker, each 1 (livemax)
            assert _value(r, "screener_rules_info", worker=w, version="sha256:v1") == 1
        assert _value(r, "screener_consumer_lag_records", topic="t", partition="1") == 20
        assert _value(r, "screener_worker_restarts_total") == 0
        assert pool.readiness() == (
            True,
            "ready; worker 0 rules sha256:v1; worker 1 rules sha256:v1",
        )

        assert procs[1].stdin is not None
        procs[1].stdin.close()
        procs[1].wait(30)
        pool.worker_exited(procs[1].pid)
        pool.worker_restarted()
        assert _value(r, "screener_commits_total") == 2  # a dead worker's counts stay
        assert r.get_sample_value("screener_worker_up", {"worker": "1"}) is None
        assert (
            r.get_sample_value("screener_consumer_lag_records", {"topic": "t", "partition": "1"})
            is None
        )
        assert _value(r, "screener_worker_restarts_total") == 1
        ok, why = pool.readiness()
        assert not ok and why == "worker 1 not running; worker 0 rules sha256:v1"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        pool.close()


def test_pool_owns_and_removes_a_temporary_directory(monkeypatch: Any) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    pool = WorkerPoolMetrics(1)
    directory = pool.directory
    assert os.path.isdir(directory)
    pool.close()
    assert not os.path.exists(directory)
