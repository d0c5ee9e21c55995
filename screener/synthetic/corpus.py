"""Deterministic synthetic messages and lexicons for benchmarks (no dataset needed).

Mixed Chinese/English chat of ~40 characters on average, with a share of violating messages
written with the evasions offenders use, and a lexicon of realistic size drawn from the same
character set so that matches happen at a realistic rate. The corpus mode of the synthetic
package: its templates live with the others in `screener.synthetic.texts`.
"""

from __future__ import annotations

import random

from screener.synthetic.texts import CORPUS_VIOLATIONS, RANKED_COMMON, WORDS_EN

COMMON = RANKED_COMMON
VIOLATIONS = CORPUS_VIOLATIONS

TWO_CHAR_SHARE = 0.03


def _cjk_word(rng: random.Random) -> str:
    return "".join(rng.choice(COMMON) for _ in range(rng.randint(1, 4)))


def message(rng: random.Random, violating: bool) -> str:
    """One chat message: CJK words and English words, ~40 characters."""
    if violating:
        template = rng.choice(VIOLATIONS)
        return template.format(
            id=f"ab{rng.randint(1000, 99999)}", qq=rng.randint(10**7, 10**9),
            url=f"www.{rng.choice(['win88', 'lucky', 'bet365x'])}.com",
            phone=f"{rng.randint(10**7, 10**8 - 1)}", phone2=f"13{rng.randint(10**8, 10**9 - 1)}",
        )  # fmt: skip
    parts: list[str] = []
    length = 0
    target = rng.choice((8, 16, 24, 40, 40, 48, 64, 80))
    while length < target:
        if rng.random() < 0.7:
            piece = "".join(_cjk_word(rng) for _ in range(rng.randint(1, 4)))
        else:
            piece = " ".join(rng.choice(WORDS_EN) for _ in range(rng.randint(1, 3)))
        parts.append(piece)
        length += len(piece) + 1
    return rng.choice(("，", " ", "！", "。")).join(parts)


def messages(n: int, seed: int = 7, violating_share: float = 0.05) -> list[str]:
    rng = random.Random(seed)
    return [message(rng, rng.random() < violating_share) for _ in range(n)]


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
