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
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from pipeline_support import PACK, Collector, Service, new_topics

from screener.brokers import BrokerProcess
from screener.rules import load_packs
from screener.tools import corpus

EDIT = ("  - id: greet\n", "  - id: greet.renamed\n")
"""an edit that changes the pack's version (a rule id) and nothing a test screens on."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


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


async def _until(what: str, timeout: float, check: Any) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.1)  # poll interval inside the deadline


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
    port = _free_port()
    service = Service(
        bootstrap, topics, f"g-{uuid.uuid4().hex[:6]}", "--workers", "2", "--rules",
        str(rules_dir), "--verdicts-topic", verdicts, "--metrics-port", str(port),
        "--rules-poll-s", "0.5", "--status-topic", "",
    ).start()  # fmt: skip
    services.append(service)
    metrics_url = f"http://127.0.0.1:{port}"
    await _until("both workers ready", 120, lambda: _get(metrics_url + "/readyz")[0] == 200)

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
            body = _get(metrics_url + "/metrics")[1]
            return all(_sample(body, "screener_rules_info", worker=w, version=version) == 1
                       for w in ("0", "1"))  # fmt: skip

        await _until("both workers on the new version", 5, lambda: both_workers_on(new))
        assert time.monotonic() - edited < 5
        ready = _get(metrics_url + "/readyz")
        assert ready[0] == 200 and f"worker 0 rules {new}" in ready[1], ready
        assert f"worker 1 rules {new}" in ready[1], ready
        await asyncio.sleep(6)  # traffic keeps flowing for a while after the swap

        pack_file.write_text(pack_file.read_text("utf-8").replace(
            "condition: hit(chicken)", "condition: hit(chickn)"), encoding="utf-8")  # fmt: skip
        broken_at = time.monotonic()

        def refused_by_both() -> bool:
            body = _get(metrics_url + "/metrics")[1]
            return _sample(body, "screener_rules_reloads_total", result="failure") == 2

        await _until("both workers refusing the broken edit", 10, refused_by_both)
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

    body = _get(metrics_url + "/metrics")[1]
    assert _sample(body, "screener_rules_reloads_total", result="success") == 2
    assert service.stop(signal.SIGTERM, timeout=60) == 0
    log = service.stderr()
    assert f"{pack_file}:" in log and "rules reload refused" in log, log[-3000:]
    lines = pack_file.read_text("utf-8").splitlines()
    where = f"{pack_file}:{lines.index('    condition: hit(chickn)') + 1}:"
    assert any("rules reload refused" in x and where in x for x in log.splitlines()), where
    assert "still running " + new in log
