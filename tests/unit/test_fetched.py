"""A fetch's partition runs: the worker's batch carries getmany's runs, and every step that
reads them answers as it would from the records themselves."""

from __future__ import annotations

from pathlib import Path

import orjson

from screener.kafka import ConsumerRecord, TopicPartition
from screener.pipeline.fetched import Fetched, fetched, next_offsets, partitions, runs
from screener.pipeline.settings import Settings
from tests.unit.behaviour_stream import burst_pack, stateful_processor

T0 = 1_724_515_200_000


def _record(
    topic: str, partition: int, offset: int, user: str = "u"
) -> ConsumerRecord[bytes, bytes]:
    value = orjson.dumps(
        {"kind": "chat", "id": f"{topic}{partition}-{offset}", "ts": T0 + offset * 1000,
         "user": {"id": user}, "text": "hello"}
    )  # fmt: skip
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", value, None, 1, 1, [])


def test_a_fetch_keeps_getmany_runs_in_partition_order() -> None:
    b1 = [_record("a", 1, o) for o in (7, 8, 9)]
    b0 = [_record("a", 0, o) for o in (3, 4)]
    c2 = [_record("c", 2, 40)]
    got = fetched({TopicPartition("c", 2): c2, TopicPartition("a", 1): b1,
                   TopicPartition("a", 0): b0, TopicPartition("a", 5): []})  # fmt: skip
    assert list(got) == b0 + b1 + c2
    assert got.runs == [(("a", 0), 0, 2), (("a", 1), 2, 5), (("c", 2), 5, 6)]
    assert runs(got) is got.runs
    assert runs(list(got)) == got.runs  # a plain list: the same runs, found by one pass
    assert next_offsets(got) == {("a", 0): 5, ("a", 1): 10, ("c", 2): 41}
    assert partitions(got) == {("a", 0), ("a", 1), ("c", 2)}


def test_a_plain_list_with_partitions_interleaved_has_a_run_per_stretch() -> None:
    records = [_record("a", 0, 1), _record("a", 1, 1), _record("a", 0, 2), _record("a", 0, 3)]
    assert runs(records) == [(("a", 0), 0, 1), (("a", 1), 1, 2), (("a", 0), 2, 4)]
    assert next_offsets(records) == {("a", 0): 4, ("a", 1): 2}  # the last run's last record
    assert runs([]) == [] and next_offsets([]) == {}
    assert fetched({}).runs == []


def test_screening_a_fetch_matches_screening_its_records(tmp_path: Path) -> None:
    pack = burst_pack(tmp_path, threshold=2)
    settings = Settings(input_topics=["a"], group_id="g", commit_interval_ms=0)

    batches = {TopicPartition("a", p): [_record("a", p, o, f"u{o % 2}") for o in range(6)]
               for p in (2, 0, 1)}  # fmt: skip
    bad = ConsumerRecord("a", 1, 6, 0, 0, b"k", b"not json", None, 1, 1, [])
    for extra in ([], [bad]):  # all parsed (the fetch's own runs), and one refused
        parts = {tp: [*rs, *(extra if tp.partition == 1 else [])] for tp, rs in batches.items()}
        whole = fetched(parts)
        assert isinstance(whole, Fetched)
        one, other = (
            stateful_processor(pack, settings).process(whole),
            stateful_processor(pack, settings).process(list(whole)),
        )
        flagged = sorted(v.event_id for v in one.verdicts if v.flagged)
        assert flagged == sorted(v.event_id for v in other.verdicts if v.flagged)
        assert flagged == [f"a{p}-{o}" for p in (0, 1, 2) for o in (4, 5)]  # the 3rd of each user
        assert one.offsets == other.offsets == {("a", p): 6 + (p == 1 and bool(extra))
                                                for p in (0, 1, 2)}  # fmt: skip
        assert [(c.partition, c.records) for c in one.changelog] == [
            (c.partition, c.records) for c in other.changelog
        ]
        assert len(one.outgoing) == len(other.outgoing) == len(flagged) + len(extra)
