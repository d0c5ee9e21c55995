"""One call for a batch over several partitions (`Engine.screen_partitioned`, and the
service's `PartitionedState`: one state for every partition, its keys tagged with their
partition) gives the verdicts and the changelog of screening each partition's events on
their own against its own state (`screen_stateful` per partition, what the service did
before)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from screener.engine import Engine
from screener.rules.pack import RulePack
from screener.state.behaviour import BehaviourState
from screener.state.partitioned import PartitionedState
from tests.unit.behaviour_stream import pack_with_extra, random_events

# one text past the cut of `max_text_chars=30` below: the marks of cut texts must follow them
TEXTS = (
    "好的", "今天晚上一起去看电影吧我请客爆米花", "call me 13812345678",
    "兼职刷单日结三百元加微信abc12345详聊", "高端外围上门服务学生嫩模联系QQ3345678921速约",
    "出售黄色视频全套，加微信 abc12345", "⑩元一次约炮加微信abc12345" + "啊" * 40,
)  # fmt: skip


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> RulePack:
    return pack_with_extra(tmp_path_factory, "partitioned")


def _untagged(records: list[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    """A state of one partition's records as the shared state writes them: band keys of 48
    bits (the top 16 carry the partition tag there)."""
    return sorted((b"t#\0\0" + k[4:] if k[:2] == b"t#" else k, v) for k, v in records)


@pytest.mark.parametrize("view", [False, True], ids=["screen_partitioned", "tagged"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_call_over_partitions_equals_a_call_per_partition(
    pack: RulePack, seed: int, view: bool
) -> None:
    rng = random.Random(seed)
    events = random_events(rng, 900, TEXTS)
    # mostly keyed by user, as producers key them; some strays put one user in two partitions
    owner = [int(e.user.id[1:]) % 3 if rng.random() < 0.9 else rng.randrange(3) for e in events]
    engine = Engine(pack, max_text_chars=30)  # some texts are cut: their marks must follow
    # one shared store evicts the oldest of all partitions' keys, a store per partition its
    # own: with room for every key both hold the same counts
    capacity = 4096 if view else 64
    ours = [BehaviourState(pack.behaviour, capacity=capacity) for _ in range(3)]
    theirs = [BehaviourState(pack.behaviour, capacity=capacity) for _ in range(3)]
    shared = PartitionedState(pack.behaviour, capacity=3 * capacity)
    got: list[bytes] = []
    want: list[bytes] = []
    lo = 0
    while lo < len(events):
        hi = lo + rng.choice((1, 2, 7, 40, 150))
        batch, owners = events[lo:hi], owner[lo:hi]
        lo = hi
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(owners):
            groups.setdefault(p, []).append(i)
        parts = [(ours[p], where) for p, where in groups.items()]
        if view:
            tagged = shared.view({("in", p): np.array(w, np.int64) for p, w in groups.items()})
            verdicts, one = engine.screen_stateful(batch, tagged)
            assert one is not None
            tagged.apply(one)
        else:
            verdicts, updates = engine.screen_partitioned(batch, parts)
            for (state, _), changes in zip(parts, updates, strict=True):
                assert changes is not None
                state.apply(changes)
        assert [v.event_id for v in verdicts] == [e.id for e in batch]
        got += [v.to_json() for v in verdicts]
        alone: dict[int, bytes] = {}
        for p, where in groups.items():
            part, changes = engine.screen_stateful([batch[i] for i in where], theirs[p])
            assert changes is not None
            theirs[p].apply(changes)
            alone |= {i: v.to_json() for i, v in zip(where, part, strict=True)}
        want += [alone[i] for i in range(len(batch))]
        if view:
            logged = shared.changes()
            for p, b in enumerate(theirs):
                assert sorted(logged.get(("in", p), [])) == _untagged(b.changes())
        else:
            for a, b in zip(ours, theirs, strict=True):
                assert sorted(a.changes()) == sorted(b.changes())
    assert got == want
    fired = b"".join(got)
    for marker in (b"t.young_burst", b"t.campaign", b"behaviour.escalation", b'"truncated":true'):
        assert marker in fired, marker  # the state part, and the cut texts, decide some verdicts
