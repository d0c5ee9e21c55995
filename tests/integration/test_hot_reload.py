"""Rules that change under a running service, on a real broker (Tansu over TCP).

- files: `screener run --workers 2` with its pack edited in place: within 5 s every worker's
  verdicts carry the new version, the audit topic holds every input event exactly once
  across the swap, and a broken edit is refused (logged with file:line, counted) while the
  previous version keeps screening.
- Kafka: two `screener run` processes with `--rules-source kafka` converge on a pack
  published with `screener rules publish` and ignore a published pack that does not compile.
- shadow: a shadow rule's hits are on the audit verdicts and in the metrics, and nowhere on
  the review topic.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiokafka import AIOKafkaProducer
from pipeline_support import (
    PACK,
    ROOT,
    Collector,
    Service,
    http_get,
    make_events,
    new_topics,
    offline_flagged,
    produce,
    until_async,
)

from screener.brokers import BrokerProcess
from screener.brokers._process import free_port
from screener.reload.bundle import collect
from screener.rules import load_packs
from screener.synthetic import corpus

EDIT = ("  - id: greet\n", "  - id: greet.renamed\n")
"""an edit that changes the pack's version (a rule id) and nothing a test screens on."""


def _sample(metrics: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


class Traffic:
    """Events produced at a steady pace; remembers each one's send time, partition and offset."""

    def __init__(self, bootstrap: str, topic: str, prefix: str):
        self.bootstrap, self.topic, self.prefix = bootstrap, topic, prefix
        self.sent: dict[str, tuple[float, int, int]] = {}
        self.stop = asyncio.Event()
        self.texts = corpus.messages(2000, seed=5, violating_share=0.1)

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        n = 0
        try:
            while not self.stop.is_set():
                futures = []
                for _ in range(40):
                    eid = f"{self.prefix}-{n}"
                    value = orjson.dumps({"kind": "chat", "id": eid, "ts": int(time.time() * 1000),
                                          "user": {"id": f"u{n % 31}"},
                                          "text": self.texts[n % len(self.texts)]})  # fmt: skip
                    key = f"u{n % 31}".encode()
                    sent = await producer.send(self.topic, value, key=key)
                    futures.append((eid, time.monotonic(), sent))
                    n += 1
                for eid, at, future in futures:
                    meta = await future
                    self.sent[eid] = (at, meta.partition, meta.offset)
                await asyncio.sleep(0.1)  # pacing (~400 events/s), not synchronisation
        finally:
            await producer.stop()


def _versions_by_partition(traffic: Traffic, audit: dict[str, str]) -> dict[int, list[str]]:
    """Per input partition, in offset order, the rules version each event was screened with."""
    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for eid, (_, partition, offset) in traffic.sent.items():
        by_partition[partition].append((offset, audit[eid]))
    return {p: [v for _, v in sorted(items)] for p, items in by_partition.items()}


def _monotone(versions: list[str], old: str, new: str) -> bool:
    """old…old new…new: one switch, never back."""
    switched = versions.index(new) if new in versions else len(versions)
    return set(versions[:switched]) <= {old} and set(versions[switched:]) <= {new}


async def test_editing_the_pack_under_two_workers_swaps_every_worker_within_5s_exactly_once(
    tansu: BrokerProcess, tmp_path: Path, topic_factory: Any, services: list[Service],
) -> None:  # fmt: skip
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    verdicts = await topic_factory(bootstrap, 3)
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    pack_file = rules_dir / "basic.yaml"
    shutil.copy(PACK, pack_file)
    old = load_packs([rules_dir]).version
    port = free_port()
    service = Service(
        bootstrap, topics, f"g-{uuid.uuid4().hex[:6]}", "--workers", "2", "--rules",
        str(rules_dir), "--verdicts-topic", verdicts, "--metrics-port", str(port),
        "--rules-poll-s", "0.5", "--status-topic", "",
    ).start()  # fmt: skip
    services.append(service)
    metrics_url = f"http://127.0.0.1:{port}"
    await until_async(
        lambda: http_get(metrics_url + "/readyz")[0] == 200, 120, "both workers ready"
    )

    traffic = Traffic(bootstrap, topics["input"], "rl")
    producing = asyncio.create_task(traffic.run())
    audit: dict[str, str] = {}
    seen: list[str] = []
    async with Collector(bootstrap, verdicts) as collector:
        await collector.until(lambda: len(collector.records) >= 200, 60, "first verdicts")

        pack_file.write_text(pack_file.read_text("utf-8").replace(*EDIT), encoding="utf-8")
        edited = time.monotonic()
        new = load_packs([rules_dir]).version
        assert new != old

        def both_workers_on(version: str) -> bool:
            body = http_get(metrics_url + "/metrics")[1]
            return all(_sample(body, "screener_rules_info", worker=w, version=version) == 1
                       for w in ("0", "1"))  # fmt: skip

        await until_async(lambda: both_workers_on(new), 5, "both workers on the new version")
        assert time.monotonic() - edited < 5
        ready = http_get(metrics_url + "/readyz")
        assert ready[0] == 200 and f"worker 0 rules {new}" in ready[1], ready
        assert f"worker 1 rules {new}" in ready[1], ready
        await asyncio.sleep(6)  # traffic keeps flowing for a while after the swap

        pack_file.write_text(pack_file.read_text("utf-8").replace(
            "condition: hit(chicken)", "condition: hit(chickn)"), encoding="utf-8")  # fmt: skip
        broken_at = time.monotonic()

        def refused_by_both() -> bool:
            body = http_get(metrics_url + "/metrics")[1]
            return _sample(body, "screener_rules_reloads_total", result="failure") == 2

        await until_async(refused_by_both, 10, "both workers refusing the broken edit")
        await asyncio.sleep(2)
        traffic.stop.set()
        await producing
        await collector.until(lambda: len(collector.records) >= len(traffic.sent), 60,
                              "a verdict for every event")  # fmt: skip
        await collector.drain()
        for _, value, headers in collector.records:
            verdict = orjson.loads(value)
            seen.append(verdict["event_id"])
            audit[verdict["event_id"]] = verdict["rules_version"]
            assert headers["screener-rules-version"].decode() == verdict["rules_version"]

    # review items carry the version their event was screened with (the same verdict)
    async with Collector(bootstrap, topics["review"]) as review:
        await review.drain()
    reviewed = [(orjson.loads(v), h) for _, v, h in review.records]
    assert reviewed and {i["rules_version"] for i, _ in reviewed} == {old, new}
    for item, headers in reviewed:
        assert item["rules_version"] == audit[item["event_id"]]
        assert headers["screener-rules-version"].decode() == item["rules_version"]
    # every input event screened exactly once across the swap and the refused edit
    counts = Counter(seen)
    assert set(counts) == set(traffic.sent) and set(counts.values()) == {1}
    # per partition: old, then new, never back; nothing old once 5 s have passed
    for partition, versions in _versions_by_partition(traffic, audit).items():
        assert _monotone(versions, old, new), partition
        assert old in versions and new in versions, partition
    late = [eid for eid, (at, _, _) in traffic.sent.items() if at > edited + 5]
    assert late and all(audit[eid] == new for eid in late)
    after_break = [eid for eid, (at, _, _) in traffic.sent.items() if at > broken_at]
    assert after_break and all(audit[eid] == new for eid in after_break)  # old pack kept

    body = http_get(metrics_url + "/metrics")[1]
    assert _sample(body, "screener_rules_reloads_total", result="success") == 2
    _alert_fires_on(body, tmp_path)
    assert service.stop(signal.SIGTERM, timeout=60) == 0
    log = service.stderr()
    assert f"{pack_file}:" in log and "rules reload refused" in log, log[-3000:]
    lines = pack_file.read_text("utf-8").splitlines()
    where = f"{pack_file}:{lines.index('    condition: hit(chickn)') + 1}:"
    assert any("rules reload refused" in x and where in x for x in log.splitlines()), where
    assert "still running " + new in log


def _alert_fires_on(scraped: str, tmp_path: Path) -> None:
    """`promtool test rules` with the alert rules of deploy/prometheus, fed the
    `screener_rules_reloads_total` series exactly as this service exported them (name,
    labels, value) after the refused edit: ScreenerRulesReloadFailed must fire."""
    series = []
    for line in scraped.splitlines():
        if line.startswith("screener_rules_reloads_total{"):
            head, _, value = line.rpartition(" ")
            labels = head[len("screener_rules_reloads_total{") : -1]
            v = int(float(value))
            series.append({
                "series": f'screener_rules_reloads_total{{{labels},job="screener",'
                          f'instance="real:9108"}}',
                "values": f"0 0 0 {v}x20",  # before the edit, then what was scraped
            })  # fmt: skip
    assert any('result="failure"' in s["series"] for s in series), scraped
    alerts = ROOT / "deploy" / "prometheus" / "alerts.yml"
    (rule,) = [r for g in yaml.safe_load(alerts.read_text("utf-8"))["groups"]
               for r in g["rules"] if r.get("alert") == "ScreenerRulesReloadFailed"]  # fmt: skip
    case = {
        "rule_files": [str(alerts)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "ScreenerRulesReloadFailed", "exp_alerts": []},
                {"eval_time": "5m", "alertname": "ScreenerRulesReloadFailed", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "job": "screener",
                                   "instance": "real:9108", "result": "failure"},
                    "exp_annotations": rule["annotations"],
                }]},
            ],
        }],
    }  # fmt: skip
    path = tmp_path / "reload_failed_scraped.test.yml"
    path.write_text(orjson.dumps(case).decode(), "utf-8")  # JSON is YAML
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is not on PATH (Debian: apt-get install prometheus)"
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _screener(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "screener", *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)  # fmt: skip


async def test_two_processes_on_the_kafka_source_converge_on_a_published_pack_within_5s(
    broker: BrokerProcess, tmp_path: Path, topic_factory: Any, services: list[Service],
) -> None:  # fmt: skip
    """On Tansu and on Apache Kafka (where the topics are really compacted)."""
    bootstrap = broker.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    verdicts = await topic_factory(bootstrap, 3)
    tag = uuid.uuid4().hex[:6]
    rules_topic, status_topic, group = f"rules-{tag}", f"status-{tag}", f"g-{tag}"
    fallback = load_packs([PACK]).version
    ports = [free_port(), free_port()]
    for port in ports:  # two separate processes (as on two machines), one group
        services.append(Service(
            bootstrap, topics, group, "--rules-source", "kafka", "--rules-topic", rules_topic,
            "--status-topic", status_topic, "--verdicts-topic", verdicts,
            "--metrics-port", str(port),
        ).start())  # fmt: skip
    urls = [f"http://127.0.0.1:{p}" for p in ports]

    def all_on(version: str) -> bool:
        return all(_sample(http_get(u + "/metrics")[1], "screener_rules_info", version=version) == 1
                   for u in urls)  # fmt: skip

    await until_async(lambda: all_on(fallback), 120, "both workers running the fallback pack")
    await until_async(
        lambda: all(http_get(u + "/readyz")[0] == 200 for u in urls), 120, "both workers ready"
    )

    # a pack that does not compile is refused by `publish` itself, with file:line
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    broken = broken_dir / "basic.yaml"
    broken.write_text(PACK.read_text("utf-8").replace("hit(chicken)", "hit(chickn)"), "utf-8")
    line = broken.read_text("utf-8").splitlines().index("    condition: hit(chickn)") + 1
    refused = _screener("rules", "publish", str(broken_dir), "--bootstrap-servers", bootstrap,
                        "--rules-topic", rules_topic)  # fmt: skip
    assert refused.returncode == 2 and f"{broken}:{line}:" in refused.stderr, refused.stderr

    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "basic.yaml").write_text(PACK.read_text("utf-8").replace(*EDIT), "utf-8")
    new = load_packs([edited]).version
    traffic = Traffic(bootstrap, topics["input"], "kf")
    producing = asyncio.create_task(traffic.run())
    try:
        published = _screener("rules", "publish", str(edited), "--bootstrap-servers", bootstrap,
                              "--rules-topic", rules_topic)  # fmt: skip
        at = time.monotonic()
        assert published.returncode == 0 and new in published.stdout, published.stderr
        await until_async(lambda: all_on(new), 5, "both processes on the published pack")
        assert time.monotonic() - at < 5

        # a published pack that does not compile (written past `publish`'s check): ignored
        from screener.kafka.rules import publish

        await publish({"bootstrap_servers": bootstrap}, rules_topic, collect([broken_dir]))

        def both_refused() -> bool:
            return all(_sample(http_get(u + "/metrics")[1], "screener_rules_reloads_total",
                               result="failure") == 1 for u in urls)  # fmt: skip

        await until_async(both_refused, 10, "both processes refusing the invalid pack")
        assert all_on(new)
        refused_at = time.monotonic()
        # traffic keeps flowing past the 5 s mark and after the refusal
        await asyncio.sleep(max(at + 7, refused_at + 2) - time.monotonic())
    finally:
        traffic.stop.set()
        await producing

    status = _screener("rules", "status", "--json", "--bootstrap-servers", bootstrap,
                       "--rules-topic", rules_topic, "--status-topic", status_topic)  # fmt: skip
    assert status.returncode == 0, status.stderr
    report = orjson.loads(status.stdout)
    assert report["published"] == ""  # the newest record is the raw, unversioned bundle
    workers = report["workers"]
    assert len(workers) == 2 and {w["version"] for w in workers} == {new}, workers
    assert all(f"kafka:{rules_topic}@" in (w["refused"] or "") for w in workers), workers
    assert all(f"basic.yaml:{line}:" in w["refused"] for w in workers), workers

    async with Collector(bootstrap, verdicts) as collector:
        await collector.until(lambda: len(collector.records) >= len(traffic.sent), 60,
                              "a verdict for every event")  # fmt: skip
        audit = {orjson.loads(v)["event_id"]: orjson.loads(v)["rules_version"]
                 for _, v, _ in collector.records}  # fmt: skip
    late = [eid for eid, (sent, _, _) in traffic.sent.items() if sent > at + 5]
    assert late and all(audit[eid] == new for eid in late)
    assert all(audit[e] == new for e, (sent, _, _) in traffic.sent.items() if sent > refused_at)
    for s in services:
        assert s.stop(signal.SIGTERM, timeout=60) == 0
        assert "rules reload refused" in s.stderr() and f"basic.yaml:{line}:" in s.stderr()


SHADOW = """
mode: shadow
lexicons:
  shadow_contact:
    terms: [微信, vx, qq, 加我]
rules:
  - id: watch.any_contact
    category: solicitation
    score: 20
    action: block
    condition: hit(shadow_contact)
"""


async def test_a_shadow_rule_is_counted_and_on_audit_verdicts_and_the_review_topic_unchanged(
    tansu: BrokerProcess, tmp_path: Path, topic_factory: Any, services: list[Service],
) -> None:  # fmt: skip
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    verdicts = await topic_factory(bootstrap, 3)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(PACK, rules / "basic.yaml")
    (rules / "shadow.yaml").write_text(SHADOW, "utf-8")
    events = make_events(3000, "sh", seed=9)
    expected_review = offline_flagged(tmp_path, events)  # the pack without the shadow rule
    port = free_port()
    service = Service(bootstrap, topics, f"g-{uuid.uuid4().hex[:6]}", "--rules", str(rules),
                      "--verdicts-topic", verdicts, "--metrics-port", str(port),
                      "--status-topic", "").start()  # fmt: skip
    services.append(service)
    await produce(bootstrap, topics["input"], events)
    async with (
        Collector(bootstrap, verdicts) as audit,
        Collector(bootstrap, topics["review"]) as review,
    ):
        await audit.until(lambda: len(audit.records) >= len(events), 120, "every audit verdict")
        await review.until(lambda: review.ids() >= expected_review, 60, "the review items")
        await review.drain()
    shadowed = [orjson.loads(v) for _, v, _ in audit.records if b'"shadow"' in v]
    hits = [v for v in shadowed if any(f["rule"] == "watch.any_contact" for f in v["shadow"])]
    assert len(hits) >= 10  # the shadow rule fires on live traffic…
    assert any(v["action"] == "allow" for v in hits)  # …including where nothing else does
    assert all("watch.any_contact" not in str(v["findings"]) for v in hits)
    # …and the review topic is exactly what the pack without it gives
    assert review.ids() == expected_review and len(review.records) == len(expected_review)
    for _, value, _ in review.records:
        item = orjson.loads(value)
        assert "shadow" not in item
        assert "watch.any_contact" not in [f["rule"] for f in item["findings"]]

    def counted() -> bool:
        body = http_get(f"http://127.0.0.1:{port}/metrics")[1]
        return _sample(body, "screener_shadow_hits_total", rule="watch.any_contact") == len(hits)

    await until_async(counted, 10, "the shadow hits in the metrics")
    assert service.stop(signal.SIGTERM, timeout=60) == 0
