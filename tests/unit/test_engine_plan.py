"""Skipping rules a message's evidence cannot satisfy never changes a verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.engine import Engine, _quote
from screener.match.regexes import RegexSet
from screener.rules import load_packs
from screener.rules.compiler import requirements
from screener.rules.condition import Reference, Scope, parse
from screener.synthetic import corpus
from screener.text.views import BatchText

SEEDS = Path(__file__).parents[2] / "seeds"
_SCOPE = Scope(lexicons={"a": 0, "b": 1}, regexes={"r": 0}, macros={}, tags=frozenset({"t"}))
A, B = Reference("lexicon", 0), Reference("lexicon", 1)
R, T = Reference("regex", 0), Reference("tag", "t")


@pytest.mark.parametrize(
    ("condition", "clauses"),
    [
        ("hit(a)", {frozenset({A})}),
        ("hit(a) and (re(r) or tag(t))", {frozenset({A}), frozenset({R, T})}),
        ("count(a) >= 2 and distinct(b) > 0", {frozenset({A}), frozenset({B})}),
        ("hit(a) or (hit(b) and re(r))", {frozenset({A, B})}),
        ("hit(a) or len(text) > 3", set()),
        ("not hit(a)", set()),
        ("count(a) < 2", set()),
        ("count(a) == 0", set()),
        ("kind == 'chat' and tag(t)", {frozenset({T})}),
    ],
)
def test_requirements(condition: str, clauses: set[frozenset[Reference]]) -> None:
    assert requirements(parse(condition), _SCOPE) == clauses


def test_skipping_rules_changes_no_verdict() -> None:
    """The shipped packs over generated traffic: every rule evaluated for every message
    (brute force) gives the very same verdicts as the engine's plans."""
    pack = load_packs([SEEDS / "rules"])
    texts = corpus.messages(4000, seed=11)
    fast = Engine(pack).screen_texts(texts)
    brute = Engine(pack)
    everything = tuple((rule, _quote(rule.references)) for rule in pack.rules)
    brute._always = everything  # evaluate every message, not only those with evidence
    brute._plan = lambda s: everything  # type: ignore[method-assign]
    brute._batch = None  # and not only those the batch evaluator says some rule may fire for
    slow = brute.screen_texts(texts)
    assert [v.to_dict() for v in fast] == [v.to_dict() for v in slow]
    assert sum(v.flagged for v in fast) > 100  # the traffic does exercise the rules


def test_regex_prefilter_finds_what_re2_alone_finds() -> None:
    """Hyperscan's loosened prefilter (then RE2) and RE2 over the whole batch agree."""
    pack = load_packs([SEEDS / "rules"])
    texts = corpus.messages(3000, seed=5) + [
        line.decode() for line in (SEEDS / "events" / "chat.jsonl").read_bytes().splitlines()
    ]
    batch = BatchText.build(pack.folding, texts)
    regexes = pack.regexes
    assert regexes.engine == "hyperscan+re2"
    prefiltered = regexes.find(batch)
    # (this used to flip a flag find() never read: both sides ran the prefilter)
    assert RegexSet(regexes.specs, prefilter=False).find(batch) == prefiltered
    assert sum(len(v) for v in prefiltered.values()) > 200
