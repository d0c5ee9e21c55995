"""The pipeline benchmark's latency feeder (`screener.measure.feed`), a process of its own,
against the embedded broker: every record is stamped with the time it was due to be produced
(never later than it was queued), the stamps it hands back are the records' own timestamps, and
it says how far behind its schedule it fell."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from screener.brokers import BrokerProcess
from screener.kafka import make_consumer
from screener.measure.feed import index_of, read_stamps


async def test_feeder_stamps_each_record_with_its_production_time(
    tansu: BrokerProcess, tmp_path: Path, topic_factory: Any
) -> None:
    topic = await topic_factory(tansu.bootstrap_servers, 3)
    stamps_file, count, rate = tmp_path / "stamps", 300, 600.0
    before = time.time() * 1000
    feeder = subprocess.Popen(
        [sys.executable, "-m", "screener.measure.feed", tansu.bootstrap_servers, topic,
         "--rate", str(rate), "--count", str(count), "--stamps", str(stamps_file),
         "--prefix", "q"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert feeder.stdout is not None and feeder.stdin is not None
        assert feeder.stdout.readline().strip() == b"ready"  # connected, nothing sent yet
        feeder.stdin.write(b"go\n")
        feeder.stdin.flush()
        out, _ = feeder.communicate(timeout=120)
    finally:
        if feeder.poll() is None:
            feeder.kill()
            feeder.wait()
    assert feeder.returncode == 0
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["sent"] == summary["queued"] == count and summary["errors"] == 0
    assert 0 <= summary["behind_p99_ms"] <= summary["behind_max_ms"] < 60_000
    # paced: 300 records at 600/s take about half a second, not "as fast as possible"
    assert summary["seconds"] >= (count - 1) / rate * 0.95
    stamps = read_stamps(stamps_file)
    assert len(stamps) == count
    assert all(before <= s <= time.time() * 1000 for s in stamps)
    assert list(stamps) == sorted(stamps)  # stamped in order, as scheduled
    # due times, however late a record was queued: record i is due i / rate after the first
    # (a record queued up to 2 ms early is stamped when queued; ms rounding)
    assert all(abs(s - stamps[0] - i * 1000 / rate) <= 5 for i, s in enumerate(stamps))

    consumer = make_consumer({"bootstrap_servers": tansu.bootstrap_servers}, topic,
                             auto_offset_reset="earliest", group_id=None)  # fmt: skip
    await consumer.start()
    try:
        got: dict[int, int] = {}
        deadline = time.monotonic() + 60
        while len(got) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    i = index_of(orjson.loads(r.value)["id"], "q")
                    assert i is not None
                    got[i] = r.timestamp
    finally:
        await consumer.stop()
    assert sorted(got) == list(range(count))
    assert all(got[i] == stamps[i] for i in range(count))  # the record timestamp is the stamp
