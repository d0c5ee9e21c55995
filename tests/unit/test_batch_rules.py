"""Rules over whole batches (`screener.rules.batch`) bound the per-message closures exactly.

Brute force twice over: random conditions over random evidence (every shape the language
has, including the ones the batch evaluator leaves unknown), and the shipped packs over
generated traffic with behaviour state, where verdicts must be byte-identical with and
without the batch evaluator and every rule must be decided by it (no unknowns left)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

import screener.rules.batch as batch_module
from screener.engine import Engine, _signals
from screener.events import ChatEvent, Event, Media, MicroblogEvent, ParseError, User, parse_event
from screener.evidence import Evidence
from screener.match.lexicon import Hit, Term
from screener.rules import load_packs
from screener.rules.batch import BatchSignals, compile_batch
from screener.rules.compiler import Compiler
from screener.rules.condition import Scope, Signals, parse
from screener.state.behaviour import BehaviourState, Row
from screener.synthetic import corpus
from screener.synthetic.generate import GenConfig, Generator
from screener.text.views import BatchText

SEEDS = Path(__file__).parents[2] / "seeds"
_SCOPE = Scope(
    lexicons={"a": 0, "b": 1}, regexes={"r": 0}, macros={}, tags=frozenset({"t", "u"}),
    banks=frozenset({"kb"}), model=frozenset({"porn"}),
)  # fmt: skip
_TERMS = [Term("x", 0, ("t",), False, False, "compact"), Term("y", 0, (), False, False, "compact"),
          Term("z", 1, ("t", "u"), False, False, "compact")]  # fmt: skip
_LEAVES = [
    "hit(a)", "hit(b)", "count(a) >= 2", "distinct(a) == 1", "tag(t) > 1", "tag_distinct(t) >= 2",
    "re(r)", "detector(phone)", "count(detector.qq) > 0", "model.porn > 0.5", "model.porn",
    "user.events(10m) > 3", "user.events(10m) == 0", "bank(kb)", "len(text) < 5",
    "user.account_age_days < 30", "user.account_age_days != 7", "user.verified == true",
    "kind == 'microblog'", "media_type(image) >= 1", "user.followers > 10",
    "user.name in ['bob', 'al']", "'o' in text", "len(media) == 0", "true", "null",
    "user.followers == user.account_age_days", "user.name",
    "len(user.name)", "len(user.name) != 3",
]  # fmt: skip


def _condition(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(_LEAVES)
    if roll < 0.45:
        return f"not ({_condition(rng, depth + 1)})"
    op = " and " if roll < 0.75 else " or "
    return "(" + op.join(_condition(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")"


def _random_batch(rng: random.Random, n: int) -> tuple[BatchSignals, list[Signals]]:
    events, lexicons, detectors, regexes, model, flags = [], {}, {}, {}, {}, {}
    windows = {"user.events@600": np.array([rng.choice((0, 1, 4, 9)) for _ in range(n)])}
    for i in range(n):
        user = User.model_construct(
            id="u", name=rng.choice((None, "bob", "eve")),
            account_age_days=rng.choice((None, 3.0, 7, 45.5, True)),
            followers=rng.choice((None, 5, 50, 2**60)), verified=rng.choice((None, True, False)),
        )  # fmt: skip
        media = [Media.model_construct(type=rng.choice(("image", "video")))] * rng.randint(0, 2)
        kind = rng.choice((ChatEvent, MicroblogEvent))
        fields = {"kind": "chat" if kind is ChatEvent else "microblog"}
        events.append(kind.model_construct(
            id=str(i), ts=0, user=user if rng.random() < 0.9 else None,
            text=rng.choice(("", "hi", "hello world")), media=media, **fields,
        ))  # fmt: skip
        hits = [Hit(i, 0, 1, t.text, t) for t in rng.choices(_TERMS, k=rng.randint(0, 3))]
        if hits:
            lexicons[i] = hits
        if rng.random() < 0.3:
            detectors[i] = {rng.choice(("phone", "qq")): [Hit(i, 0, 1, "1")] * rng.randint(1, 2)}
        if rng.random() < 0.3:
            regexes[i] = {0: [Hit(i, 0, 1, "r")]}
        if rng.random() < 0.3:
            model[i] = {"porn": rng.choice((0.3, 0.5, 0.9))}
        if rng.random() < 0.4:
            flags[i] = {rng.choice(("gate:user.events@600>3", "bank:kb")): True}
    b = BatchSignals(events, lexicons, detectors, regexes, model, windows, flags)
    evidence = Evidence(lexicons, detectors, regexes, model)
    signals = []
    for i, event in enumerate(events):
        s = _signals(event, i, evidence)
        s.behaviour = Row(windows, i, flags.get(i, {}))
        signals.append(s)
    return b, signals


def test_random_conditions_are_bounded_by_the_closures() -> None:
    """may ⊇ where the rule fires ⊇ must, for 400 random rules over random evidence; and the
    batch evaluator decides most of them outright (it is not `unknown` everywhere)."""
    rng = random.Random(3)
    compiler = Compiler(_SCOPE)
    decided = 0
    for _ in range(400):
        condition = compiler.expand(parse(_condition(rng)))
        exceptions = [compiler.expand(parse(_condition(rng))) for _ in range(rng.randint(0, 2))]
        closure = compiler.compile(condition)
        excepts = [compiler.compile(e) for e in exceptions]
        rule = compile_batch(condition, exceptions, _SCOPE)
        b, signals = _random_batch(rng, 40)
        fires = np.array([bool(closure(s)) and not any(e(s) for e in excepts) for s in signals])
        may, must = rule.may_fire(b), rule.must_fire(b)
        assert (may | ~fires).all() and (fires | ~must).all(), condition
        decided += bool((may == must).all())
    assert decided > 250


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine(load_packs([SEEDS / "rules"]))


def _traffic() -> list[Event]:
    """The generator's chat/microblog stream (Zipf users, offenders, media), parsed."""
    out: list[Event] = []
    for item in itertools.islice(Generator(GenConfig(seed=4, users=300)), 6000):
        parsed = parse_event(item.value)
        assert not isinstance(parsed, ParseError)
        out.append(parsed)
    return out


def test_shipped_packs_are_fully_vectorised(shipped: Engine) -> None:
    """Every shipped rule is decided by the arrays (may == must), so only messages that get
    a finding reach Python."""
    texts = corpus.messages(3000, seed=11)
    events = [ChatEvent.model_construct(kind="chat", id=str(i), ts=0,
                                        user=User.model_construct(id="-"), text=t, media=[])
              for i, t in enumerate(texts)]  # fmt: skip
    evidence = shipped._evidence(BatchText.build(shipped.pack.folding, texts))
    b = BatchSignals(events, evidence.lexicons, evidence.detectors, evidence.regexes,
                     evidence.model)  # fmt: skip
    for rule in shipped.pack.rules:
        assert rule.batch is not None
        may, must = rule.batch.may_fire(b), rule.batch.must_fire(b)
        assert (may == must).all(), rule.id
        closure = [i for i, e in enumerate(events)
                   if rule.condition(s := _signals(e, i, evidence))
                   and not any(x(s) for x in rule.exceptions)]  # fmt: skip
        assert np.flatnonzero(may).tolist() == closure, rule.id


@pytest.mark.parametrize("stateful", [False, True])
def test_batch_rules_change_no_verdict(
    shipped: Engine, stateful: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generated traffic (behaviour presets' users, media, groups) through the shipped packs,
    with state across batches: the same verdicts, byte for byte, with the batch evaluator and
    with every candidate evaluated message by message."""
    events = _traffic()
    runs = []
    for threshold in (0, 10**9):  # every batch through the arrays; none
        monkeypatch.setattr(batch_module, "BATCH_RULES_FROM", threshold)
        monkeypatch.setattr(batch_module, "BATCH_RULES_SHARE", 0.0)
        state = BehaviourState(shipped.pack.behaviour) if stateful else None
        lines = []
        for lo in range(0, len(events), 500):
            verdicts, updates = shipped.screen_stateful(events[lo : lo + 500], state)
            if state is not None and updates is not None:
                state.apply(updates)
            lines += [v.to_json() for v in verdicts]
        runs.append(lines)
    assert runs[0] == runs[1]
    assert sum(b'"flagged":true' in line for line in runs[0]) > 50
