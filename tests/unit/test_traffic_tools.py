"""Pieces of record/replay/loadtest that need no broker: pacing, times, metrics, detection."""

from __future__ import annotations

import asyncio
import time

import pytest

from screener.measure import prom_scrape
from screener.measure.loadtest import Pool, _Item, detection
from screener.traffic.pacing import Pace, Pacer, RateWindow, pump
from screener.traffic.record import parse_time

METRICS = """\
# TYPE screener_events_consumed_total counter
screener_events_consumed_total{topic="chat.events",kind="chat"} 700.0
screener_events_consumed_total{topic="chat.events",kind="microblog"} 300.0
# TYPE screener_events_flagged_total counter
screener_events_flagged_total{category="porn",action="review"} 42.0
# TYPE screener_consumer_lag_records gauge
screener_consumer_lag_records{topic="chat.events",partition="0"} 5.0
screener_consumer_lag_records{topic="chat.events",partition="1"} 7.0
# TYPE screener_end_to_end_latency_seconds histogram
screener_end_to_end_latency_seconds_bucket{le="0.1"} 50.0
screener_end_to_end_latency_seconds_bucket{le="0.5"} 90.0
screener_end_to_end_latency_seconds_bucket{le="1.0"} 100.0
screener_end_to_end_latency_seconds_bucket{le="+Inf"} 100.0
screener_end_to_end_latency_seconds_count 100.0
screener_end_to_end_latency_seconds_sum 20.0
"""


def test_pacer_schedules_by_rate_by_speed_or_not_at_all() -> None:
    assert Pacer(Pace(rate=100), start=10.0).due(50, 0) == pytest.approx(10.5)
    fast = Pacer(Pace(speed=10), start=0.0)
    assert fast.due(0, 1_000) == 0.0
    assert fast.due(1, 3_000) == pytest.approx(0.2)  # 2 s of original time, 10× faster
    assert fast.due(2, 500) == 0.0  # older than the first (another partition): now
    assert Pacer(Pace()).due(5, 0) is None
    with pytest.raises(ValueError):
        Pace(rate=1, speed=1)
    with pytest.raises(ValueError):
        Pace(rate=0)


def test_rate_window() -> None:
    window = RateWindow(seconds=2)
    window.add(0.0, 0)
    assert window.add(1.0, 100) == pytest.approx(100)
    assert window.add(5.0, 900) == pytest.approx(200)  # the window slid past the old points


def test_times() -> None:
    assert parse_time("1700000000000") == 1_700_000_000_000
    assert parse_time("2024-08-25T00:00:00+08:00") == 1_724_515_200_000
    assert parse_time("2024-08-24T16:00:00") == 1_724_515_200_000  # naive means UTC
    with pytest.raises(ValueError):
        parse_time("yesterday-ish")


def test_metrics_are_summed_and_the_histogram_gives_quantiles() -> None:
    snap = prom_scrape.parse(METRICS, at=1.0)
    assert snap.consumed == 1000 and snap.flagged == 42 and snap.lag == 12
    empty: dict[float, float] = {}
    assert prom_scrape.quantile(empty, snap.buckets, 0.5) == pytest.approx(0.1)
    assert prom_scrape.quantile(empty, snap.buckets, 0.7) == pytest.approx(0.3)
    assert prom_scrape.quantile(empty, snap.buckets, 0.99) == pytest.approx(0.95)
    assert prom_scrape.quantile(snap.buckets, snap.buckets, 0.5) is None  # nothing new


class _Reader:
    def __init__(self, seqs: list[int], categories: list[str]):
        self.seqs = seqs
        self.categories = categories


def test_detection_counts_each_event_once_and_by_label() -> None:
    labels = ["benign", "porn", "benign", "fraud"]
    pool = Pool([_Item("t", None, b"", None, [], label) for label in labels], "test")
    # 10 sent: labels cycle; flagged: seq 1 (porn, as porn), 5 twice (porn, as solicitation),
    # 3 (fraud), 2 (benign: a false positive).
    reader = _Reader([1, 5, 5, 3, 2], ["porn", "solicitation", "solicitation", "fraud", "abuse"])
    det = detection(pool, 10, reader)  # type: ignore[arg-type]
    assert det["positives"] == 5  # porn at 1, 5, 9; fraud at 3, 7
    assert det["by_category"]["porn"] == {"positives": 3, "flagged": 2, "recall": 0.6667,
                                          "recall_exact": 0.3333}  # fmt: skip
    assert det["by_category"]["fraud"]["recall"] == 0.5
    assert det["recall"] == 0.6 and det["recall_exact"] == 0.4
    assert det["false_positives"] == 1 and det["benign"] == 5


def test_pool_cycles_events_with_fresh_traceable_ids() -> None:
    import itertools

    import orjson

    pool = Pool.generated(20, seed=1, violation_rate=0.5, topics=["chat-in", "blog-in"])
    sent = list(itertools.islice(pool.outbound("lt1-", 5), 40))
    for seq, (topic, key, value, headers, ts, partition) in enumerate(sent, start=5):
        event = orjson.loads(value or b"")
        assert event["id"] == f"lt1-{seq}"
        assert topic == ("chat-in" if event["kind"] == "chat" else "blog-in")
        assert key == event["user"]["id"].encode() and ts is None and partition is None
        assert dict(headers)["screener-label"].decode() == pool.labels[seq % 20]


class _StallingSender:
    """`BatchSender` as `pump` uses it: queueing the 5th record waits `stall_s` (a partition
    whose previous batch the producer has not yet taken)."""

    def __init__(self, stall_s: float):
        self.stall_s = stall_s
        self.stamps: list[int] = []
        self.queued_ms: list[float] = []

    async def send(self, topic: str, key: object, value: object, headers: object,
                   stamp: int, partition: object) -> None:  # fmt: skip
        if len(self.stamps) == 4:
            await asyncio.sleep(self.stall_s)  # the stall the test is about, not a sync
        self.stamps.append(stamp)
        self.queued_ms.append(time.time() * 1000)

    async def flush(self) -> None:
        pass


@pytest.mark.parametrize("stamp_due", [True, False])
async def test_a_feed_that_falls_behind_stamps_records_when_due(stamp_due: bool) -> None:
    sender = _StallingSender(stall_s=0.25)
    records = [("t", None, b"v", [], None, None)] * 40
    rate = 1000.0
    await pump(records, sender, Pacer(Pace(rate=rate)), stamp_due=stamp_due)  # type: ignore[arg-type]
    stamps, queued = sender.stamps, sender.queued_ms
    assert len(stamps) == 40 and stamps == sorted(stamps)
    assert queued[10] - queued[0] >= 240  # queued late: the stall held record 4 on
    if stamp_due:  # each stamp is its due time (1 ms apart), however late it was queued
        assert all(abs((s - stamps[0]) - i) <= 3 for i, s in enumerate(stamps))
        assert all(s <= q + 1 for s, q in zip(stamps, queued, strict=True))
    else:  # stamped when queued: the records behind the stall hide their wait
        assert stamps[10] - stamps[0] >= 240
