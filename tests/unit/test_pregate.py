"""Signals read only where a rule may use them (`screener.rules.pregate`) give the same
verdicts and the same stored state as signals read for every event."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from screener.engine import Engine
from screener.events import Event
from screener.rules.pack import RulePack
from screener.rules.pregate import ReadGate
from screener.state.behaviour import BehaviourState
from screener.text.views import BatchText
from tests.unit.behaviour_stream import pack_with_extra, random_events


class _Everywhere:
    """Every signal read for every event (what the state did before the pre-gate)."""

    names: frozenset[str] = frozenset()

    def masks(self, *args: object) -> None:
        return None


def _run(engine: Engine, events: list[Event], batch: int) -> tuple[list[bytes], list[Any]]:
    state = BehaviourState(engine.pack.behaviour, capacity=64)
    lines: list[bytes] = []
    changes: list[Any] = []
    for lo in range(0, len(events), batch):
        verdicts, updates = engine.screen_stateful(events[lo : lo + batch], state)
        assert updates is not None
        state.apply(updates)
        lines += [v.to_json() for v in verdicts]
        changes.append(sorted(state.changes(), key=lambda kv: kv[0]))
    return lines, changes


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> RulePack:
    return pack_with_extra(tmp_path_factory, "pregate")


@pytest.mark.parametrize("ask_from", [0, 64, 10**9])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gated_reads_give_the_verdicts_and_state_of_reading_everywhere(
    pack: RulePack, seed: int, ask_from: int
) -> None:
    """`ask_from` 0: the rules that need evidence are always asked where they may fire;
    10**9: never (their signals read at every message with evidence); 64: as shipped."""
    rng = random.Random(seed)
    events = random_events(rng, 1500)
    batch = rng.choice((1, 37, 250))
    gated = Engine(pack)
    gated._reads = ReadGate(pack.rules, ask_from=ask_from)
    ungated = Engine(pack)
    ungated._reads = _Everywhere()  # type: ignore[assignment]
    got, want = _run(gated, events, batch), _run(ungated, events, batch)
    assert got[0] == want[0]
    assert got[1] == want[1]
    fired = b"".join(got[0])
    for rule in (b"t.young_burst", b"t.quiet_contact", b"t.long_unless_media", b"t.campaign",
                 b"behaviour.escalation", b"solicitation.contact_only_new_account"):  # fmt: skip
        assert rule in fired, rule  # each kind of reader decides some verdicts here


def test_the_gate_skips_reads_where_no_rule_can_use_them(pack: RulePack) -> None:
    engine = Engine(pack)
    events = random_events(random.Random(9), 400)
    evidence = engine._evidence(BatchText.build(pack.folding, [e.text for e in events]))
    masks = ReadGate(pack.rules).masks(events, evidence)
    assert set(masks) >= {"user.media@3600", "user.events@600", "text.copies@3600"}
    # `t.quiet_contact` reads user.events(10m) without a gate of its own: where it may fire
    # (a phone number), every signal is read
    phone = np.array([i in evidence.detectors and "phone" in evidence.detectors[i]
                      for i in range(len(events))])  # fmt: skip
    assert phone.any()
    for mask in masks.values():
        assert mask[phone].all()
    # an established account (400 days) with no evidence at all: nothing to read
    old = np.array([(e.user.account_age_days or 0) >= 400 for e in events])
    quiet = old & np.array([i not in evidence.messages() for i in range(len(events))])
    assert quiet.any()
    for mask in masks.values():
        assert not mask[quiet].any()


def test_few_messages_with_evidence_are_read_without_asking_the_rules(pack: RulePack) -> None:
    """Below `ask_from` messages with evidence, a rule that needs evidence reads its signals
    at every one of them (a superset of where it may fire); from it on, only where it may."""
    engine = Engine(pack)
    events = random_events(random.Random(9), 400)
    evidence = engine._evidence(BatchText.build(pack.folding, [e.text for e in events]))
    asked = ReadGate(pack.rules, ask_from=0).masks(events, evidence)
    gate = ReadGate(pack.rules, ask_from=10**9)
    rows = np.zeros(len(events), bool)
    rows[gate._rows(evidence, gate._hits(evidence.lexicons))] = True
    assert rows.any() and not rows.all()
    unasked = gate.masks(events, evidence)
    assert set(asked) == set(unasked)
    for name in asked:
        assert not (asked[name] & ~unasked[name]).any(), name  # a superset of the asked mask
        assert not (unasked[name] & ~asked[name] & ~rows).any(), name  # more only at rows
    # user.contacts is read only by a rule needing evidence (a contact id, a young account)
    assert unasked["user.contacts@3600"][rows].all()
    assert (unasked["user.contacts@3600"] != asked["user.contacts@3600"]).any()


def test_lexicon_hits_kept_are_those_of_wanted_lexicons_and_tags() -> None:
    """`_hits` (which skips messages with no wanted lexicon at C speed when no tag is
    wanted) keeps exactly the hits of a wanted lexicon or tag, sources-less hits never."""
    from screener.match.lexicon import Hit, Term

    def term(lexicon: int, tags: tuple[str, ...] = ()) -> Term:
        return Term(f"t{lexicon}", lexicon, tags, False, False, "compact")

    rng = random.Random(4)
    lexicons: dict[int, list[Hit]] = {}
    for i in range(300):
        hits = []
        for _ in range(rng.randint(1, 4)):
            src = None if rng.random() < 0.1 else term(rng.randrange(6), rng.choice(((), ("x",))))
            hits.append(Hit(i, 0, 1, "t", src))
        lexicons[i] = hits
    for wanted, tags in (({1, 2}, set()), ({1}, {"x"}), (set(), {"x"}), (set(), set())):
        gate = ReadGate([])
        gate._wanted = {"lexicon": frozenset(wanted), "tag": frozenset(tags)}
        want = {}
        for i, hits in lexicons.items():
            mine = [
                h for h in hits
                if h.source is not None
                and (h.source.lexicon in wanted or tags & set(h.source.tags))
            ]  # fmt: skip
            if mine:
                want[i] = mine
        assert gate._hits(lexicons) == want
        assert bool(want) == bool(wanted or tags)
