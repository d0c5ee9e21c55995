"""The evasion test set: every text example of the packs, disguised by each evasion.

Each transformation is one of the evasions the README promises to resist. Term evasions
(separators, spaces and emoji between CJK characters, zero-width characters) go where
offenders put them: inside the lexicon terms the rule matched (the finding's match spans, as
`evasion.py` does for marked-up templates). Examples a rule matches by regexes alone are left
out of those: regexes read the folded view, punctuation included, by design. Message evasions
(full width, traditional characters, homophones and pinyin of the terms offenders disguise,
digit styles, styled letters) apply to the whole text.

Applied to every `match` example the rule must still fire (CI checks the survival rate);
applied to `no_match` examples and to clean everyday text they must create no detection.
Deterministic: no randomness, so a failure names a fixed text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from screener.engine import Engine
from screener.synthetic import evasion

_CJK = re.compile(r"(?<=[\u4e00-\u9fff])(?=[\u4e00-\u9fff])")
_DIGITS = re.compile(r"\d{5,}")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_STYLED = {c: chr(0x1D41A + i) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}  # 𝐚 …
_STYLED |= {c: chr(0x1D400 + i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def _between_cjk(filler: str) -> Callable[[str], str]:
    return lambda text: _CJK.sub(filler, text)


def _zero_width(text: str) -> str:
    return "\u200b".join(text)


def _replace_terms(table: dict[str, str]) -> Callable[[str], str]:
    keys = sorted(table, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, keys)))
    return lambda text: pattern.sub(lambda m: table[m.group(0)], text)


def _digits(style: Callable[[str], str], cjk_only: bool = False) -> Callable[[str], str]:
    """Contact digits restyled; Chinese numerals only in Chinese text (an English premium-SMS
    number written 〇九〇六… is no disguise anyone uses)."""

    def restyle(text: str) -> str:
        if cjk_only and not _HAN.search(text):
            return text
        return _DIGITS.sub(lambda m: style(m.group(0)), text)

    return restyle


def _styled(text: str) -> str:
    return "".join(_STYLED.get(c, c) for c in text)


def _chinese_digits(digits: str) -> str:
    return "".join(evasion.CN_DIGITS[int(d)] for d in digits)


# Homophones that sound the same as the plain term (look-alike spellings such as `vx` are not
# homophones; they are listed as terms in the packs and covered by the examples themselves).
_HOMOPHONES = {"微信": "威信", "加微信": "加薇信", "色情": "瑟情", "约炮": "约泡", "裸聊": "倮聊",
               "赌博": "堵博", "网赌": "网堵", "贷款": "带款"}  # fmt: skip

TERM_EVASIONS: dict[str, Callable[[str], str]] = {
    "separators": _between_cjk("-"),
    "spaces": _between_cjk(" "),
    "emoji": _between_cjk("❤"),
    "zero_width": _zero_width,
}
MESSAGE_EVASIONS: dict[str, Callable[[str], str]] = {
    "fullwidth": lambda text: evasion.fullwidth(text),
    "traditional": lambda text: evasion.traditional(text),
    "homophones": _replace_terms(_HOMOPHONES),
    "pinyin": _replace_terms({k: v.replace(" ", "") for k, v in evasion.PINYIN.items()}),
    "keycap_digits": _digits(lambda d: evasion.keycap_digits(d, None)),  # type: ignore[arg-type]
    "circled_digits": _digits(lambda d: evasion.circled_digits(d, None)),  # type: ignore[arg-type]
    "chinese_digits": _digits(_chinese_digits, cjk_only=True),
    "styled_letters": _styled,
}
EVASIONS = {**TERM_EVASIONS, **MESSAGE_EVASIONS}


def in_spans(text: str, spans: Sequence[tuple[int, int]], transform: Callable[[str], str]) -> str:
    """`transform` applied to each [start, end) span of `text` (non-overlapping, any order)."""
    out, last = [], 0
    for start, end in sorted(set(spans)):
        if start < last:
            continue
        out += [text[last:start], transform(text[start:end])]
        last = end
    return "".join(out) + text[last:]


@dataclass(frozen=True, slots=True)
class Case:
    rule: str
    evasion: str
    original: str
    text: str


def cases(engine: Engine, positive: bool) -> list[Case]:
    """Every (text example, evasion) pair of the engine's pack where the evasion changes the
    text; term evasions go inside the spans the example's rule matched."""
    examples = [
        (rule.id, ex)
        for rule in engine.pack.rules if rule.examples is not None
        for ex in (rule.examples.match if positive else rule.examples.no_match)
        if isinstance(ex, str)
    ]  # fmt: skip
    verdicts = engine.screen_texts([ex for _, ex in examples])
    words = {t.text for view in engine.pack.matcher.views for ts in view.terms for t in ts}
    out: list[Case] = []
    for (rule_id, example), verdict in zip(examples, verdicts, strict=True):
        # lexicon terms only: regexes read the folded view, punctuation included, by design
        spans = [(m.start, m.end) for f in verdict.findings if f.rule == rule_id
                 for m in f.matches if m.term in words]  # fmt: skip
        for name, transform in EVASIONS.items():
            if name in TERM_EVASIONS:
                if not spans:  # matched by regexes alone: not a term evasion's target
                    continue
                text = in_spans(example, spans, transform)
            else:
                text = transform(example)
            if text != example:
                out.append(Case(rule_id, name, example, text))
    return out


def transformed(texts: Sequence[str]) -> list[tuple[str, str, str]]:
    """(evasion, original, disguised) for every text an evasion changes (whole messages)."""
    return [(name, t, d) for t in texts for name, f in EVASIONS.items() if (d := f(t)) != t]
