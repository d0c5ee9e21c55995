"""Per-partition behaviour state in the worker's processor (no broker: the pure part).

What the broker tests (tests/integration/test_state_changelog.py) rely on: each partition's
events are counted against its own state, the batch carries that state's changelog records
for partition p of the changelog, a new owner restoring those records continues the counts,
an aborted batch is forgotten, and the state outlives an engine swap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.engine import Engine
from screener.kafka import ConsumerRecord
from screener.pipeline.settings import Settings
from screener.pipeline.stateful import StatefulScreening, changelog_topic
from screener.pipeline.transform import ScreeningProcessor
from screener.rules.pack import load_packs
from screener.state.sparse import MAGIC2
from tests.unit.behaviour_stream import (
    BURST,
    burst_pack,
    chat,
    flagged,
    stateful_processor,
)

RULE = BURST


@pytest.fixture
def settings() -> Settings:
    # a changelog with every batch: the commit interval off
    return Settings(input_topics=["in"], group_id="g", commit_interval_ms=0)


def test_counts_are_kept_per_partition_and_logged_to_its_changelog_partition(
    tmp_path: Path, settings: Settings
) -> None:
    processor = stateful_processor(burst_pack(tmp_path), settings)
    # u on partition 0 posts 8 times, v on partition 1 posts 8 times, interleaved
    records = [chat(p, i, "u" if p == 0 else "v") for i in range(8) for p in (0, 1)]
    batch = processor.process(records)
    assert flagged(batch) == ["u-5", "u-6", "u-7", "v-5", "v-6", "v-7"]  # the 6th on
    topic = changelog_topic(settings, "in")
    assert topic == "g-in-state-changelog"
    by_partition = {(p.topic, p.partition, key) for p in batch.changelog for key, _ in p.records}
    assert by_partition == {(topic, 0, b"uu"), (topic, 1, b"uv")}
    values = [value for p in batch.changelog for _, value in p.records]
    assert all(value is not None and value.startswith(MAGIC2) for value in values)
    assert batch.report.state_entries == 2
    # nothing changed: no changelog records
    assert processor.process([]).changelog == []


def test_a_batch_of_records_that_are_not_events_goes_to_the_dlq_and_leaves_state(
    tmp_path: Path, settings: Settings
) -> None:
    processor = stateful_processor(burst_pack(tmp_path), settings)
    bad = [ConsumerRecord("in", 0, i, 0, 0, b"k", b"not json", None, 1, 1, []) for i in range(3)]
    batch = processor.process(bad)
    assert len(batch.verdicts) == 0 and batch.changelog == []
    assert [o.topic for o in batch.outgoing] == [settings.dlq_topic] * 3
    assert batch.report.state_entries == 0


def test_a_new_owner_restoring_the_changelog_continues_the_count(
    tmp_path: Path, settings: Settings
) -> None:
    pack = burst_pack(tmp_path)
    first = stateful_processor(pack, settings)
    log = first.process([chat(0, i, "u") for i in range(4)]).changelog
    second = stateful_processor(pack, settings)
    assert second.state is not None
    second.state.state.restore(("in", 0), [r for p in log for r in p.records])  # type: ignore[attr-defined]
    batch = second.process([chat(0, i, "u") for i in range(4, 8)])
    assert flagged(batch) == ["u-5", "u-6", "u-7"]  # 5th, 6th… counted from 4 on
    fresh = stateful_processor(pack, settings).process([chat(0, i, "u") for i in range(4, 8)])
    assert flagged(fresh) == []  # without the restore the count starts again at zero


def test_an_aborted_batch_is_forgotten_and_restored_again(
    tmp_path: Path, settings: Settings
) -> None:
    processor = stateful_processor(burst_pack(tmp_path), settings)
    state = processor.state
    assert isinstance(state, StatefulScreening)
    batch = processor.process([chat(0, i, "u") for i in range(4)])
    assert state.state.missing([("in", 0)]) == []
    processor.rewound(batch)
    assert state.state.missing([("in", 0), ("in", 1)]) == [("in", 0), ("in", 1)]


def test_the_state_survives_an_engine_swap_even_when_the_windows_change(
    tmp_path: Path, settings: Settings
) -> None:
    processor = stateful_processor(burst_pack(tmp_path, 5), settings)
    processor.process([chat(0, i, "u") for i in range(4)])
    processor.engine = Engine(burst_pack(tmp_path, 5))  # same windows: the state as it is
    assert flagged(processor.process([chat(0, 4, "u"), chat(0, 5, "u")])) == ["u-5"]
    # a pack with another window too: counts carried over into the new layout
    path = tmp_path / "two.yaml"
    path.write_text(
        f"""name: t
rules:
  - id: {RULE}
    category: spam
    score: 5
    action: review
    condition: user.events(10m) > 7 or user.events(1h) > 100
""",
        encoding="utf-8",
    )
    processor.engine = Engine(load_packs([path]))
    # events 0..5 counted before: the 8th (u-7) is over 7
    assert flagged(processor.process([chat(0, i, "u") for i in (6, 7, 8)])) == [
        "u-7",
        "u-8",
    ]


def test_a_pack_without_behaviour_rules_keeps_no_state(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(
        "name: t\nrules:\n  - {id: a.b, category: spam, score: 5, action: review, "
        "condition: 'len(text) > 3'}\n",
        encoding="utf-8",
    )
    pack = load_packs([path])
    assert not pack.behaviour
    batch = ScreeningProcessor(Engine(pack), settings).process([chat(0, 0, "u")])
    assert batch.changelog == [] and batch.report.state_entries is None


def test_a_batch_with_no_events_screens_without_an_engine_failure(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Every record of the batch is not an event (DLQ): nothing to read state for, and no
    'engine failed' isolation either."""
    processor = stateful_processor(burst_pack(tmp_path), settings)
    bad = ConsumerRecord("in", 0, 0, 0, 0, b"k", b"not json", None, 1, 1, [])
    batch = processor.process([bad])
    assert batch.report.dlq_reasons.total() == 1 and batch.report.records == 1
    assert not [r for r in caplog.records if "engine failed" in r.getMessage()]
