"""One state for all of a worker's partitions (`PartitionedState`): what sharing must not change.

Each partition's keys are tagged in the shared stores, so the changelog of partition p holds
p's keys alone, untagged; forgetting a partition (rebalance, abort) writes nothing for it;
restoring one leaves the others' pending changes alone; evictions at the cap become
tombstones of the evicted key's own partition; and a new owner, whose tags differ, continues
the counts from the changelog.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.engine import Engine
from screener.pipeline.commits import CommitInterval
from screener.pipeline.settings import Settings
from screener.pipeline.stateful import StatefulScreening
from screener.pipeline.transform import ScreeningProcessor
from screener.rules.pack import load_packs
from screener.state.partitioned import PartitionedState
from tests.unit.behaviour_stream import BURST, burst_pack, chat, flagged


def _processor(
    tmp_path: Path, capacity: int = 4096, interval_ms: int = 0
) -> tuple[ScreeningProcessor, PartitionedState]:
    settings = Settings(input_topics=["in"], group_id="g", commit_interval_ms=interval_ms)
    pack = burst_pack(tmp_path)
    state = PartitionedState(pack.behaviour, capacity=capacity)
    return ScreeningProcessor(Engine(pack), settings, StatefulScreening(settings, state)), state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _logged(batch: object) -> dict[int, list[tuple[bytes, bytes | None]]]:
    out: dict[int, list[tuple[bytes, bytes | None]]] = {}
    for placed in batch.changelog:  # type: ignore[attr-defined]
        out.setdefault(placed.partition, []).extend(placed.records)
    return out


def test_a_user_in_two_partitions_is_two_keys_each_logged_untagged_to_its_own(
    tmp_path: Path,
) -> None:
    processor, state = _processor(tmp_path)
    # the same user id on partitions 0 and 1 (a producer keyed it two ways): counted apart
    batch = processor.process([chat(p, i, "u") for i in range(4) for p in (0, 1)])
    assert flagged(batch) == []  # 4 + 4 would be over 5 as one key
    logged = _logged(batch)
    assert sorted(logged) == [0, 1]
    assert [k for k, _ in logged[0]] == [b"uu"] and [k for k, _ in logged[1]] == [b"uu"]
    assert state.size() == 2
    assert flagged(processor.process([chat(0, i, "u") for i in range(4, 6)])) == ["u-5"]


def test_a_partition_moved_away_is_forgotten_and_nothing_is_written_for_it(
    tmp_path: Path,
) -> None:
    processor, state = _processor(tmp_path, interval_ms=60_000)  # changes stay pending
    processor.process([chat(p, i, "u" if p == 0 else "v") for i in range(3) for p in (0, 1)])
    assert state.retain([("in", 1)]) == [("in", 0)]
    assert state.missing([("in", 0), ("in", 1)]) == [("in", 0)]
    changes = state.changes()
    assert list(changes) == [("in", 1)]  # p0's pending changes and keys: another worker's now
    assert [k for k, v in changes[("in", 1)]] == [b"uv"]
    assert all(v is not None for _, v in changes[("in", 1)])  # no tombstones for u either
    assert state.size() == 1 and state.evicted == 0


def test_restoring_a_partition_leaves_the_others_pending_changes(tmp_path: Path) -> None:
    processor, state = _processor(tmp_path, interval_ms=60_000)
    processor.process([chat(0, i, "u") for i in range(3)])
    elsewhere, _ = _processor(tmp_path)
    log = _logged(elsewhere.process([chat(1, i, "w") for i in range(2)]))[1]
    assert state.restore(("in", 1), log) == 1
    changes = state.changes()
    assert [k for k, _ in changes[("in", 0)]] == [b"uu"]  # still to be written
    assert ("in", 1) not in changes  # what was restored is in its changelog already


def test_evictions_at_the_cap_are_tombstones_of_the_evicted_keys_partition(
    tmp_path: Path,
) -> None:
    processor, state = _processor(tmp_path, capacity=16)
    first = processor.process([chat(0, i, f"a{i}") for i in range(16)])
    assert len(_logged(first)[0]) == 16
    later = _logged(processor.process([chat(1, 100 + i, f"b{i}") for i in range(8)]))
    tombstones = [k for p in later for k, v in later[p] if v is None]
    assert tombstones and all(k.startswith(b"ua") for k in tombstones)  # the oldest: p0's
    assert {k for k, v in later[0]} == set(tombstones)  # logged to partition 0, untagged
    assert {k for k, v in later[1] if v is not None} == {f"ub{i}".encode() for i in range(8)}
    assert state.evicted == len(tombstones) and state.size() <= 16


def test_a_new_owner_whose_tags_differ_continues_the_counts(tmp_path: Path) -> None:
    first, _ = _processor(tmp_path)
    first.process([chat(0, i, "x") for i in range(2)])  # partition 0 gets tag 1 here
    log = _logged(first.process([chat(1, i, "u") for i in range(4)]))[1]  # tag 2
    second, state = _processor(tmp_path)
    assert state.restore(("in", 1), log) == 1  # tag 1 on this worker
    assert state.tag(("in", 1)) != 2
    assert flagged(second.process([chat(1, i, "u") for i in range(4, 7)])) == [
        "u-5",
        "u-6",
    ]


def test_a_damaged_record_is_skipped_and_the_rest_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = _processor(tmp_path)
    log = _logged(first.process([chat(0, i, u) for i in range(4) for u in ("u", "v")]))[0]
    damaged = [*log, (b"uw", b"\x00not a state record")]
    _, state = _processor(tmp_path)
    assert state.restore(("in", 0), damaged) == 2
    assert "1 changelog record(s) skipped" in caplog.text


def test_a_pack_with_other_windows_carries_each_partitions_counts_over_apart(
    tmp_path: Path,
) -> None:
    processor, state = _processor(tmp_path)
    processor.process([chat(p, i, "u") for i in range(4) for p in (0, 1)])
    processor.process([chat(1, 4, "u")])  # partition 1's u: 5 events, partition 0's: 4
    path = tmp_path / "two.yaml"
    path.write_text(
        f"name: t\nrules:\n  - id: {BURST}\n    category: spam\n    score: 5\n"
        "    action: review\n    condition: user.events(10m) > 5 or user.events(1h) > 100\n",
        encoding="utf-8",
    )
    processor.engine = Engine(load_packs([path]))  # another window: a new layout
    batch = processor.process([chat(0, 5, "u"), chat(1, 5, "u")])
    assert flagged(batch) == ["u-5"] and batch.verdicts[1].flagged  # only partition 1's 6th
    assert sorted(_logged(batch)) == [0, 1] and state.size() == 2


def test_a_batch_closing_some_partitions_writes_their_changes_alone(tmp_path: Path) -> None:
    """Staggered closes (`pipeline.commits`): a batch closing partition p carries p's changes
    since p's last close, one record per key however many batches changed it; the others'
    wait for their own close, and nothing is lost in between."""
    processor, state = _processor(tmp_path, interval_ms=1000)
    clock = Clock()
    processor.commits = CommitInterval(1000, clock=clock)
    logged: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    closes = []
    for i in range(40):  # every 50 ms, a batch of users u0…u2 on each of three partitions
        batch = processor.process([chat(p, i, f"u{i % 3}") for p in (0, 1, 2)])
        if batch.commit:
            assert batch.closes is not None and len(batch.closes) == 1
            closes.append(batch.closes)
            assert {("in", p) for p in _logged(batch)} <= batch.closes
        for p, records in _logged(batch).items():
            assert len({k for k, _ in records}) == len(records)  # a key once per close
            logged[p] += [k for k, _ in records]
        clock.now += 0.05
    assert len(set(closes)) == 3  # each partition closed on its own
    final = processor.flush(force=True)
    assert final is not None and final.closes is None  # before a revoke: everything
    for p, records in _logged(final).items():
        logged[p] += [k for k, _ in records]
    for p in (0, 1, 2):  # every user of every partition was written, untagged, to its own
        assert set(logged[p]) == {b"uu0", b"uu1", b"uu2"}
    assert state.changes() == {}
