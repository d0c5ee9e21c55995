"""Both literal automata report the same (pattern, start, end) hits for the same view."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.match.automaton import AhoCorasickAutomaton, HyperscanAutomaton

pytest.importorskip("hyperscan", reason="Hyperscan has wheels for x86-64 Linux only")

_CHARS = st.sampled_from("约炮加微信v1a\U00020001b")
_HAYSTACK = st.text(alphabet=st.sampled_from("约炮加微信v1ab\n\U00020001x色"), max_size=60)


def _hits(automaton: HyperscanAutomaton | AhoCorasickAutomaton, haystack: str) -> list[tuple]:
    codes = np.frombuffer(haystack.encode("utf-32-le"), dtype=np.uint32)
    return sorted(map(tuple, automaton.scan(haystack, codes).tolist()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=_CHARS, min_size=1, max_size=4), min_size=1, max_size=12,
                unique=True), _HAYSTACK)  # fmt: skip
def test_hyperscan_and_aho_corasick_agree(patterns: list[str], haystack: str) -> None:
    assert _hits(HyperscanAutomaton(patterns), haystack) == _hits(
        AhoCorasickAutomaton(patterns), haystack
    )


def test_large_alphabets_drop_misaligned_hits() -> None:
    """Past 6,944 distinct characters high and low bytes overlap; hits stay exact."""
    alphabet = [chr(0x4E00 + i) for i in range(8000)]
    patterns = ["".join(alphabet[i : i + 2]) for i in range(0, 8000, 2)]
    haystack = "".join(alphabet[7000:7100]) + "\n" + "".join(alphabet[::-1][:300])
    ours = _hits(HyperscanAutomaton(patterns), haystack)
    assert ours == _hits(AhoCorasickAutomaton(patterns), haystack)
    assert ours  # the haystack does contain patterns
