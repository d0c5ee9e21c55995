"""Both literal automata report the same (pattern, start, end) hits for the same view."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from screener.match.automaton import AhoCorasickAutomaton, Automaton, DaachorseAutomaton

_CHARS = st.sampled_from("约炮加微信v1a\U00020001b")
_HAYSTACK = st.text(alphabet=st.sampled_from("约炮加微信v1ab\n\U00020001x色"), max_size=60)


def _hits(automaton: Automaton, haystack: str) -> list[tuple[int, ...]]:
    return sorted(map(tuple, automaton.scan(haystack).tolist()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=_CHARS, min_size=1, max_size=4), min_size=1, max_size=12,
                unique=True), _HAYSTACK)  # fmt: skip
def test_daachorse_and_aho_corasick_agree(patterns: list[str], haystack: str) -> None:
    """Overlapping and nested hits, characters outside the BMP, offsets in code points."""
    assert _hits(DaachorseAutomaton(patterns), haystack) == _hits(
        AhoCorasickAutomaton(patterns), haystack
    )


def test_offsets_are_code_points() -> None:
    found = _hits(DaachorseAutomaton(["微信", "信v"]), "\U00020001加微信v")
    assert found == [(0, 2, 4), (1, 3, 5)]
