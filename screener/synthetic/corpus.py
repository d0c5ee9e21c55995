"""Deterministic synthetic messages and lexicons for benchmarks (no dataset needed).

Mixed Chinese/English chat of ~40 characters on average, with a share of violating messages
written with the evasions offenders use, and a lexicon of realistic size drawn from the same
character set so that matches happen at a realistic rate. The messages are the text-only view
of the one traffic generator (`screener.synthetic.generate.Generator`, "corpus" text style);
`lexicon()` is not traffic but the term list matched against it, a separate small helper.
"""

from __future__ import annotations

import itertools
import random

from screener.synthetic.generate import GenConfig, Generator
from screener.synthetic.texts import (
    CORPUS_VIOLATIONS,
    RANKED_COMMON,
    corpus_benign,
    corpus_violation,
)

COMMON = RANKED_COMMON
VIOLATIONS = CORPUS_VIOLATIONS

TWO_CHAR_SHARE = 0.03


def message(rng: random.Random, violating: bool) -> str:
    """One corpus line (the writers `Generator` uses in its "corpus" text style)."""
    return corpus_violation(rng) if violating else corpus_benign(rng)


def config(seed: int = 7, violating_share: float = 0.05) -> GenConfig:
    """The corpus preset of the one generator (a minimal population: only texts are read)."""
    return GenConfig(seed=seed, users=1, conversations=1, offenders=1, bad_bank_size=0,
                     violation_rate=violating_share, texts="corpus")  # fmt: skip


def messages(n: int, seed: int = 7, violating_share: float = 0.05) -> list[str]:
    """`n` corpus lines: the text-only view of `Generator(config(seed, violating_share))`."""
    return list(itertools.islice(Generator(config(seed, violating_share)).texts(), n))


def _gb2312_level1() -> str:
    """The 3,755 commonly used characters (GB 2312 level 1), from Python's own codec."""
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def lexicon(n: int, seed: int = 11, two_char_share: float = TWO_CHAR_SHARE) -> list[str]:
    """`n` distinct terms shaped like a real sensitive-word list.

    Real lists (houbb/sensitive-word: 44k terms, 2.9k distinct characters, median length 7;
    konsheng: 75k terms, 4.9k characters, median 8) are long phrases over a wide alphabet, so
    terms here are 2–12 characters drawn half from the chat vocabulary and half from the 3,755
    common characters, plus 10% Latin words. The share of two-character terms is calibrated
    so that about 15% of `messages()` hit some term, near the 14% of benign messages that the
    houbb list hits on the ChineseHarm corpus.
    """
    rng = random.Random(seed)
    wide = _gb2312_level1()
    terms: set[str] = set()
    while len(terms) < n:
        roll = rng.random()
        if roll < 0.1:
            term = "".join(rng.choice(_LATIN) for _ in range(rng.randint(5, 9)))
        elif roll < 0.1 + two_char_share:
            term = rng.choice(COMMON) + rng.choice(COMMON)
        else:
            size = rng.choice((3, 4, 4, 5, 6, 6, 7, 7, 8, 9, 10, 12))
            term = "".join(rng.choice(COMMON if rng.random() < 0.5 else wide) for _ in range(size))
        terms.add(term)
    return sorted(terms)


_LATIN = "abcdefghijklmnopqrstuvwxyz"
