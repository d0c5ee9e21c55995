"""A partition's state through the compiled loops (rows staged by `prepare` and committed by
`apply`, compiled campaign band keys, distinct-value bitmaps and index of band keys) against
the numpy/dict reference paths: the same verdicts and the same changelog records batch after
batch, through evictions at the hard cap, TTL expiry after a gap in event time, a restore from
the changelog, and batches prepared twice."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from screener.campaigns import signatures
from screener.engine import Engine
from screener.events import Event
from screener.rules.pack import RulePack
from screener.state import bits, intindex, windows
from screener.state.behaviour import BehaviourState
from tests.unit.behaviour_stream import pack_with_extra, random_events

if windows._rings is None:
    assert os.environ.get("CI", "").lower() not in ("1", "true"), "screener.state._rings not built"
    pytest.skip("compiled window loop not built here", allow_module_level=True)


@contextmanager
def _reference(monkeypatch: pytest.MonkeyPatch, on: bool) -> Iterator[None]:
    """The numpy paths (no compiled loop anywhere) while `on`."""
    with monkeypatch.context() as m:
        if on:
            m.setattr(windows, "_rings", None)
            m.setattr(signatures, "_rings", None)
            m.setattr(bits, "_rings", None)
            m.setattr(intindex, "_rings", None)
            m.setattr(intindex, "_dict_get", None)
        yield


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> RulePack:
    return pack_with_extra(tmp_path_factory, "compiled")


def _stream(seed: int) -> list[Event]:
    """Random events with a three-hour gap in the middle (every key's TTL passes), after which
    the users are others (theirs expire rather than being seen again)."""
    rng = random.Random(seed)
    first, second = random_events(rng, 700), random_events(rng, 700)
    gap = 3 * 3600 * 1000 + first[-1].ts - second[0].ts  # type: ignore[operator]
    return first + [
        e.model_copy(update={"ts": e.ts + gap,  # type: ignore[operator]
                             "user": e.user.model_copy(update={"id": "v" + e.user.id})})
        for e in second
    ]  # fmt: skip


def _run(
    engine: Engine, events: list[Event], batch: int, capacity: int, reference: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[bytes], list[Any], int]:  # fmt: skip
    lines: list[bytes] = []
    changes: list[Any] = []
    log: list[tuple[bytes, bytes | None]] = []
    evicted = 0
    with _reference(monkeypatch, reference):  # the stores choose their index when made
        state = BehaviourState(engine.pack.behaviour, capacity=capacity)
        assert state.texts is not None and isinstance(state.texts.index, dict) == reference
        for k, lo in enumerate(range(0, len(events), batch)):
            if k == 5:  # a restart: the state comes back from the changelog so far
                evicted += state.evictions()
                state = BehaviourState(engine.pack.behaviour, capacity=capacity)
                state.restore(log)
            part = events[lo : lo + batch]
            verdicts, updates = engine.screen_stateful(part, state)
            if k % 7 == 3:  # screened twice, both applied: the second one's staged rows are
                _, twice = engine.screen_stateful(part, state)  # stale by then (rewritten)
                assert updates is not None and twice is not None
                state.apply(updates)
                updates = twice
            assert updates is not None
            state.apply(updates)
            if k % 5 == 4:
                state.users.expire()
                assert state.texts is not None
                state.texts.expire()
            lines += [v.to_json() for v in verdicts]
            batch_changes = sorted(state.changes(), key=lambda kv: kv[0])
            changes.append(batch_changes)
            log += batch_changes
    return lines, changes, evicted + state.evictions()


@pytest.mark.parametrize(("seed", "batch", "capacity"),
                         [(1, 37, 16), (2, 250, 32), (3, 7, 1_000_000), (4, 100, 16)])  # fmt: skip
def test_compiled_state_gives_the_verdicts_and_changelog_of_the_numpy_paths(
    pack: RulePack, seed: int, batch: int, capacity: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _stream(seed)
    engine = Engine(pack)
    got = _run(engine, events, batch, capacity, False, monkeypatch)
    want = _run(engine, events, batch, capacity, True, monkeypatch)
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2] == want[2]
    assert any(b"t.campaign" in line for line in got[0])  # campaign keys decided something
    assert got[2] > 0  # keys dropped: at the hard cap, or expired after the gap
    assert any(v is None for batch_changes in got[1] for _, v in batch_changes)  # tombstones
