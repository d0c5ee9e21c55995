"""Every regex prefilter finds exactly what an RE2 search of each message on its own finds.

A prefilter only decides which (message, regex) pairs RE2 looks at, so a prefilter that
misses a pair silently loses evidence. The reference here is the definition: every regex
searched in every message separately.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import re2

from screener.match.atoms import required_atoms
from screener.match.re2_search import _find_all
from screener.match.regexes import RegexSet, RegexSpec, _byte_starts, _re2
from screener.rules import load_packs
from screener.synthetic import corpus
from screener.text.folding import build_folding
from screener.text.views import BatchText

SEEDS = Path(__file__).parents[2] / "seeds"
MULTILINE = [
    "第一行\n加我微信 abc123 每天500元",  # a newline inside a message
    "line one\nfuck you\nline three",
    "你妈\n死了",
    "\n\n",
    "earn 500 dollars a day\n9k 100万",
]


def _texts() -> list[str]:
    chat = (SEEDS / "events" / "chat.jsonl").read_bytes().splitlines()
    texts = corpus.messages(1500, seed=11) + [line.decode() for line in chat]
    # multi-line messages spread through the batch: a message index found by counting
    # newlines would be off for every message after them
    for i, text in enumerate(MULTILINE):
        texts.insert(100 + 300 * i, text)
    return texts


def _per_message(specs: list[RegexSpec], batch: BatchText) -> dict[int, dict[int, Any]]:
    view = batch.view("folded")
    starts = [*batch.message_starts("folded").tolist(), len(view) + 1]
    exact = {s.index: _re2(s.pattern, capture=True) for s in specs}
    out: dict[int, dict[int, Any]] = {}
    for m in range(len(starts) - 1):
        text = view[starts[m] : starts[m + 1] - 1]
        for spec in specs:
            if spans := _find_all(exact[spec.index], text):
                out.setdefault(m, {})[spec.index] = [text[a:b] for a, b in spans]
    return out


@pytest.fixture(scope="module")
def shipped() -> tuple[list[RegexSpec], BatchText, dict[int, dict[int, Any]]]:
    pack = load_packs([SEEDS / "rules"])
    specs = pack.regexes.specs
    assert {s.view for s in specs} == {"folded"}  # what _per_message reads
    batch = BatchText.build(pack.folding, _texts())
    return specs, batch, _per_message(specs, batch)


@pytest.mark.parametrize(
    "mode",
    [
        {"background": False},  # Hyperscan
        {"hyperscan": False},  # required literals
        {"prefilter": False},  # RE2 over the joined batch
    ],
    ids=["hyperscan", "literals", "re2"],
)
def test_every_prefilter_finds_what_a_search_per_message_finds(
    shipped: tuple[list[RegexSpec], BatchText, dict[int, dict[int, Any]]], mode: dict[str, bool]
) -> None:
    specs, batch, truth = shipped
    regexes = RegexSet(specs, **mode)
    found = {
        m: {k: [text for _, _, text in hits] for k, hits in per.items()}
        for m, per in regexes.find(batch).items()
    }
    assert found == truth
    assert sum(len(v) for v in truth.values()) > 300
    first = 100  # the first multi-line message, and a regex hit in it
    assert batch.texts[first] == MULTILINE[0] and first in truth


def test_a_newline_inside_a_message_does_not_move_later_evidence() -> None:
    """The Hyperscan pass used to find a match's message by counting newlines."""
    specs = [RegexSpec(0, "folded", r"\bfuck you\b")]
    batch = BatchText.build(build_folding(), ["one\ntwo\nthree", "ok", "fuck you"])
    found = RegexSet(specs, background=False).find(batch)
    assert found == {2: {0: [(0, 8, "fuck you")]}}


def test_message_byte_offsets_from_separators_match_sizing_every_character() -> None:
    """`_byte_starts` finds separators' byte offsets from the newlines; the reference sums
    every character's UTF-8 size (newlines inside messages, empty and non-BMP ones included)."""
    texts = [*_texts()[:400], "", "😀\n😀", "\n", "ab\n\ncd", "", "终"]
    batch = BatchText.build(build_folding(), texts)
    for view, layer in (("folded", "folded"), ("digits", "folded"), ("compact", "compact")):
        codes, starts = batch.codes(view), batch.message_starts(layer)
        data = batch.view(view).encode("utf-8")
        expected = [len(batch.view(view)[:s].encode("utf-8")) for s in starts.tolist()]
        assert _byte_starts(codes, starts, data).tolist() == expected
        assert _byte_starts(codes, starts).tolist() == expected
    one = BatchText.build(build_folding(), ["a\nb"])
    assert _byte_starts(one.w_codes, one.message_starts("folded"), b"a\nb").tolist() == [0]


def test_a_match_across_messages_does_not_hide_one_inside_a_message() -> None:
    r"""RE2 over the joined batch: `a\s*b` matches "ab\nb" across the separator, which
    covers the real match "ab" of the first message."""
    specs = [RegexSpec(0, "folded", r"ab\s*b?")]
    batch = BatchText.build(build_folding(), ["xab", "b", "zz"])
    for mode in ({"prefilter": False}, {"hyperscan": False}):
        assert RegexSet(specs, **mode).find(batch) == {
            0: {0: [(1, 3, "ab")]},
        }


def test_the_background_compile_swaps_in_hyperscan_with_the_same_results(
    shipped: tuple[list[RegexSpec], BatchText, dict[int, dict[int, Any]]],
) -> None:
    specs, batch, _ = shipped
    regexes = RegexSet(specs)  # background: the literal prefilter answers meanwhile
    early = regexes.find(batch)
    assert regexes.wait(60)
    assert regexes._compiled  # Hyperscan is in use now
    assert regexes.find(batch) == early


@pytest.mark.parametrize(
    ("pattern", "clauses"),
    [
        ("(黑人|白人)[^，。]{0,6}(垃圾|畜生)", ({"垃圾", "畜生"}, {"黑人", "白人"})),
        (r"\bwork(ing)?\s(from|at)\shome\b", ({"home"}, {"work"}, {"at", "from"})),
        ("(你|妳)(们)?.{0,3}去死", ({"去死"}, {"你", "妳"})),
        ("小时|钟头", ({"小时", "钟头"},)),
        (r"[a-c]x\d+", ({"ax", "bx", "cx"},)),
    ],
)
def test_required_literals(pattern: str, clauses: tuple[set[str], ...]) -> None:
    assert tuple(map(set, required_atoms(pattern) or ())) == clauses


@pytest.mark.parametrize(
    "pattern",
    [
        r"a|b",  # a lone ASCII letter: nearly every message would be a candidate
        r"(?i)hello",  # flags change what literals match: not modelled
        r"\Qhello\E",
        r"x*",  # matches the empty string
        r"hello|\d+",  # one branch has no literal
        r"[^abc]+",
    ],
)
def test_patterns_without_usable_literals_stay_on_hyperscan(pattern: str) -> None:
    assert required_atoms(pattern) is None


def test_every_shipped_match_contains_an_atom_of_each_clause(
    shipped: tuple[list[RegexSpec], BatchText, dict[int, dict[int, Any]]],
) -> None:
    """The literals are necessary for every match the corpus has (the routed regexes)."""
    specs, _, truth = shipped
    clauses = {s.index: required_atoms(s.pattern) for s in specs}
    assert sum(c is not None for c in clauses.values()) >= 50
    checked = 0
    for per in truth.values():
        for index, texts in per.items():
            for text in texts if clauses[index] else ():
                for clause in clauses[index] or ():
                    assert any(atom in text for atom in clause), (index, text, clause)
                checked += 1
    assert checked > 200
    # and the parser agrees with RE2 on what the shipped patterns are
    assert all(re2.compile(s.pattern) for s in specs)


def test_find_all_spans_are_the_re2_modules_own(
    shipped: tuple[list[RegexSpec], BatchText, dict[int, dict[int, Any]]],
) -> None:
    """`_find_all` calls RE2 on bytes and converts offsets itself; the `re2` module's own
    search over the str (code-point spans, capturing groups) is the reference."""
    specs, batch, truth = shipped
    view = batch.view("folded")
    starts = [*batch.message_starts("folded").tolist(), len(view) + 1]
    texts = [view[starts[m] : starts[m + 1] - 1] for m in sorted(truth)]
    texts += ["加我微信 abc123 每天500元 加我", "ab😀你妈死了cd你妈死了", "x" * 3]
    regexes = RegexSet(specs, background=False)
    checked = 0
    for spec in specs:
        exact, reference = regexes._exact[spec.index], _re2(spec.pattern, capture=True)
        for text in texts:
            want = [m.span() for m in reference.finditer(text) if m.end() > m.start()]
            assert _find_all(exact, text) == want
            checked += len(want)
    assert checked > 300
