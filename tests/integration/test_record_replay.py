"""`screener record` / `screener replay` against real brokers: byte-exact round trips, pacing."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from screener.brokers import BrokerProcess
from screener.kafka import make_producer
from screener.traffic.recording import Recorded, RecordingWriter, read_recording

ROOT = Path(__file__).resolve().parents[2]
BASE_TS = 1_700_000_000_000


def screener(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI as a user would; fail with its stderr when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "screener", *argv], capture_output=True, timeout=timeout, cwd=ROOT
    )
    if proc.returncode != 0:
        pytest.fail(f"screener {' '.join(argv)} exited {proc.returncode}:\n"
                    f"{proc.stderr.decode(errors='replace')[-3000:]}")  # fmt: skip
    return proc


def tricky_records(n: int) -> list[tuple[bytes | None, bytes | None, list[tuple[str, Any]], int]]:
    """(key, value, headers, timestamp): keys incl. None, values incl. invalid UTF-8, empty,
    a tombstone; headers incl. repeated names, binary and empty values."""
    out: list[tuple[bytes | None, bytes | None, list[tuple[str, Any]], int]] = []
    for i in range(n):
        key = None if i % 11 == 0 else f"user-{i % 7}".encode()
        if i % 5 == 0:
            value: bytes | None = b"\xff\xfe\x00bad utf-8 \xc3\x28 " + str(i).encode()
        elif i % 13 == 0:
            value = b""
        elif i % 17 == 0 and key is not None:
            value = None  # tombstone
        else:
            value = orjson.dumps({"i": i, "text": "加V信 約炮 ｑｑ" * (i % 3)})
        headers: list[tuple[str, Any]] = [("seq", str(i).encode())]
        if i % 3 == 0:
            headers += [("bin", bytes(range(256))), ("seq", b"dup"), ("empty", b"")]
        out.append((key, value, headers, BASE_TS + i * 7))
    return out


async def produce(bootstrap: str, topic: str, records: list[Any]) -> None:
    producer = make_producer({"bootstrap_servers": bootstrap}, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers, timestamp_ms=ts)
            for key, value, headers, ts in records
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


def content(rec: Recorded) -> tuple[Any, ...]:
    return (rec.key, rec.value, rec.headers, rec.timestamp)


def per_key(records: list[Recorded]) -> dict[bytes, list[tuple[Any, ...]]]:
    grouped: dict[bytes, list[tuple[Any, ...]]] = defaultdict(list)
    for rec in records:
        if rec.key is not None:
            grouped[rec.key].append(content(rec))
    return dict(grouped)


async def test_record_replay_record_round_trips_byte_for_byte(
    broker: BrokerProcess, tmp_path: Path, topic_factory: Any
) -> None:
    bootstrap = broker.bootstrap_servers
    source = await topic_factory(bootstrap, 3)
    sent = tricky_records(600)
    await produce(bootstrap, source, sent)

    first = tmp_path / "first.screc"
    out = screener("record", "--bootstrap-servers", bootstrap, "--topic", source,
                   "--out", str(first), "--json")  # fmt: skip
    summary = orjson.loads(out.stdout)
    assert summary["records"] == len(sent) and summary["stopped_by"] == "end"
    recorded = list(read_recording(first))
    assert sorted(map(content, recorded), key=repr) == sorted(
        ((k, v, tuple((h, bytes(b)) for h, b in hs), ts) for k, v, hs, ts in sent), key=repr
    )
    expected_per_key: dict[bytes, list[Any]] = defaultdict(list)
    for key, value, headers, ts in sent:
        if key is not None:
            expected_per_key[key].append((key, value, tuple(headers), ts))
    assert per_key(recorded) == expected_per_key  # per-key order as produced

    # Same partitions: the copy is the same topic, record for record, offsets included.
    replica = await topic_factory(bootstrap, 3)
    out = screener("replay", str(first), "--bootstrap-servers", bootstrap, "--to", replica,
                   "--max", "--preserve-partitions", "--json")  # fmt: skip
    assert orjson.loads(out.stdout)["sent"] == len(sent)
    second = tmp_path / "second.screc"
    screener("record", "--bootstrap-servers", bootstrap, "--topic", replica, "--out", str(second))
    again = list(read_recording(second))
    strip = lambda r: (r.partition, r.offset, *content(r), r.timestamp_type)  # noqa: E731
    assert sorted(map(strip, again)) == sorted(map(strip, recorded))
    assert {r.topic for r in again} == {replica}

    # Default partitioner: keys may land elsewhere, their order may not change.
    keyed = await topic_factory(bootstrap, 2)
    screener("replay", str(first), "--bootstrap-servers", bootstrap, "--to", keyed, "--max")
    third = tmp_path / "third.screc"
    screener("record", "--bootstrap-servers", bootstrap, "--topic", keyed, "--out", str(third))
    moved = list(read_recording(third))
    assert per_key(moved) == per_key(recorded)
    assert sorted(map(content, moved), key=repr) == sorted(map(content, recorded), key=repr)


async def test_interrupted_recording_resumes_without_gaps_or_duplicates(
    tansu: BrokerProcess, tmp_path: Path, topic_factory: Any
) -> None:
    bootstrap = tansu.bootstrap_servers
    topic = await topic_factory(bootstrap, 3)
    sent = tricky_records(900)
    await produce(bootstrap, topic, sent)
    path = tmp_path / "partial.screc"
    screener("record", "--bootstrap-servers", bootstrap, "--topic", topic, "--out", str(path),
             "--limit", "250")  # fmt: skip
    assert len(list(read_recording(path))) == 250
    proc = subprocess.run(
        [sys.executable, "-m", "screener", "record", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--out", str(path)], capture_output=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2 and b"--resume" in proc.stderr  # never clobbers by accident
    with path.open("r+b") as fh:  # a crash mid-frame: the last frame is cut short
        fh.truncate(path.stat().st_size - 7)
    out = screener("record", "--bootstrap-servers", bootstrap, "--topic", topic,
                   "--out", str(path), "--resume", "--json")  # fmt: skip
    summary = orjson.loads(out.stdout)
    assert summary["dropped_tail_bytes"] > 0
    records = list(read_recording(path))
    assert len(records) == len(sent) == summary["total_records"]
    offsets: dict[int, list[int]] = defaultdict(list)
    for rec in records:
        offsets[rec.partition].append(rec.offset)
    for partition, seen in offsets.items():
        assert seen == list(range(len(seen))), f"partition {partition} has gaps or duplicates"


async def test_replay_at_a_fixed_rate_achieves_it(
    tansu: BrokerProcess, tmp_path: Path, topic_factory: Any
) -> None:
    bootstrap = tansu.bootstrap_servers
    topic = await topic_factory(bootstrap, 3)
    path = tmp_path / "paced.screc"
    rate, n = 2_000, 6_000  # three seconds
    with RecordingWriter.create(path, {}) as writer:
        for i in range(n):
            writer.write(Recorded("orig", i % 3, i // 3, BASE_TS + i, f"u{i % 50}".encode(),
                                  b'{"kind":"chat","id":"%d"}' % i, (("h", b"v"),)))  # fmt: skip
    out = screener("replay", str(path), "--bootstrap-servers", bootstrap, "--to", topic,
                   "--rate", str(rate), "--rewrite-timestamps", "--json")  # fmt: skip
    summary = orjson.loads(out.stdout)
    assert summary["sent"] == n and summary["errors"] == 0
    assert abs(summary["achieved_rate"] - rate) <= 0.05 * rate, summary
    assert b"achieved rate" in out.stderr  # the summary table
