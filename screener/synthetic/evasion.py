"""The evasions offenders use (README "How it works"), as deterministic text transformations.

Templates mark the words a filter would look for as `[[term]]` and contacts as digits; an
evasion rewrites a marked term (加V信, 薇❤信, 约-炮, zero-width characters, jia wei xin, ｖｘ…),
the digits of a contact (1⃣8⃣8⃣, 壹捌捌, ①⑧⑧, full width), or the whole message (約炮:
traditional characters). `apply` picks evasions with a `random.Random`, so the same seed gives
the same text, and reports which ones it used.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
SEPARATORS = (" ", "-", ".", "*", "_", "~", "|", "/", "❤", "💋", "🌹", "⭐", "、")

# Look-alikes and homophones for the terms offenders disguise (the first form is the plain one).
HOMOPHONES: dict[str, tuple[str, ...]] = {
    "微信": ("V信", "薇信", "威信", "徽信", "薇❤信", "vx", "VX", "wx", "Ｖ信", "围信"),
    "加微信": ("加V信", "加薇信", "+V", "➕V信", "加威信", "伽薇", "+vx", "加徽信", "加 V"),
    "加微": ("加V", "+V", "➕V", "伽V", "加薇"),
    "加QQ": ("加扣扣", "+Q", "➕Q", "加ⓠⓠ", "加企鹅", "加qq", "加ｑｑ"),
    "QQ": ("扣扣", "ⓠⓠ", "企鹅", "qq", "ｑｑ", "Q"),
    "约炮": ("约泡", "约砲", "約炮", "约-炮", "yue炮", "约pao"),
    "裸聊": ("倮聊", "果聊", "luo聊"),
    "裸照": ("祼照", "果照", "luo照"),
    "嫖娼": ("piao娼", "嫖chang", "瞟娼"),
    "色情": ("瑟情", "se情", "涩情"),
    "援交": ("圆交", "yuan交"),
    "百家乐": ("百家樂", "百佳乐", "bjl"),
    "网赌": ("网du", "wang赌", "网堵"),
    "彩金": ("采金", "cai金"),
    "赌博": ("堵博", "du博"),
    "无码": ("无ma", "吴码", "wu码"),
    "刷单": ("刷dan", "唰单"),
    "贷款": ("带款", "dai款", "贷kuan"),
    "傻逼": ("sb", "煞笔", "傻b", "傻13", "SB"),
    "转账": ("转zhang", "赚账"),
}
PINYIN: dict[str, str] = {
    "加微信": "jia wei xin", "微信": "wei xin", "约炮": "yue pao", "裸聊": "luo liao",
    "援交": "yuan jiao", "包夜": "bao ye", "嫖娼": "piao chang", "上门": "shang men",
    "百家乐": "bai jia le", "网赌": "wang du", "刷单": "shua dan", "傻逼": "sha bi",
}  # fmt: skip
KEYCAP = "\u20e3"
CIRCLED_DIGITS = "⓪①②③④⑤⑥⑦⑧⑨"
CN_DIGITS_FORMAL = "零壹贰叁肆伍陆柒捌玖"
CN_DIGITS = "〇一二三四五六七八九"
CIRCLED_LOWER = {chr(ord("a") + i): chr(0x24D0 + i) for i in range(26)}

_MARK = re.compile(r"\[\[(.+?)\]\]")
_DIGITS = re.compile(r"\d{5,}")


def plain(template_text: str) -> str:
    """The text without markup (what the message says, undisguised)."""
    return _MARK.sub(r"\1", template_text)


# -- term evasions (applied to one marked term) --------------------------------------------------


def _interleave(term: str, rng: random.Random, fillers: tuple[str, ...]) -> str:
    out = [term[0]]
    for ch in term[1:]:
        out.append(rng.choice(fillers) if rng.random() < 0.8 else "")
        out.append(ch)
    return "".join(out)


def zero_width(term: str, rng: random.Random) -> str:
    return _interleave(term, rng, ZERO_WIDTH) if len(term) > 1 else term


def separators(term: str, rng: random.Random) -> str:
    if len(term) < 2:
        return term
    sep = rng.choice(SEPARATORS)
    return sep.join(term) if rng.random() < 0.6 else _interleave(term, rng, SEPARATORS)


def homophone(term: str, rng: random.Random) -> str:
    variants = HOMOPHONES.get(term)
    return rng.choice(variants) if variants else term


def pinyin(term: str, rng: random.Random) -> str:
    spelled = PINYIN.get(term)
    if spelled is None:
        return term
    return spelled if rng.random() < 0.5 else spelled.replace(" ", "")


def fullwidth(text: str, rng: random.Random | None = None) -> str:
    """ASCII letters and digits to their full-width forms (ｑｑ, ｖｘ, １８８)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def circled_letters(term: str, rng: random.Random) -> str:
    return "".join(CIRCLED_LOWER.get(c.lower(), c) for c in term)


# -- contact evasions (applied to a run of digits) -----------------------------------------------


def keycap_digits(digits: str, rng: random.Random) -> str:
    return "".join(d + KEYCAP if d.isdigit() else d for d in digits)


def circled_digits(digits: str, rng: random.Random) -> str:
    return "".join(CIRCLED_DIGITS[int(d)] if d.isdigit() else d for d in digits)


def chinese_digits(digits: str, rng: random.Random) -> str:
    table = CN_DIGITS_FORMAL if rng.random() < 0.5 else CN_DIGITS
    return "".join(table[int(d)] if d.isdigit() else d for d in digits)


def spaced_digits(digits: str, rng: random.Random) -> str:
    return rng.choice((" ", "-", ".", "  ")).join(digits)


# -- message evasions ----------------------------------------------------------------------------


@cache
def _s2t() -> opencc.OpenCC:
    import opencc  # imported on first use: the corpus and sample modes never need it

    return opencc.OpenCC("s2t")


def traditional(text: str, rng: random.Random | None = None) -> str:
    return str(_s2t().convert(text))


Transform = Callable[[str, random.Random], str]

TERM_EVASIONS: dict[str, Transform] = {
    "zero_width": zero_width,
    "separators": separators,
    "homophone": homophone,
    "pinyin": pinyin,
    "fullwidth": fullwidth,
    "circled_letters": circled_letters,
}
CONTACT_EVASIONS: dict[str, Transform] = {
    "keycap_digits": keycap_digits,
    "circled_digits": circled_digits,
    "chinese_digits": chinese_digits,
    "fullwidth_digits": fullwidth,
    "spaced_digits": spaced_digits,
}
MESSAGE_EVASIONS: dict[str, Transform] = {"traditional": traditional}
ALL_EVASIONS = (*TERM_EVASIONS, *CONTACT_EVASIONS, *MESSAGE_EVASIONS)


def _applicable(name: str, term: str) -> bool:
    if name == "homophone":
        return term in HOMOPHONES
    if name == "pinyin":
        return term in PINYIN
    if name in ("fullwidth", "circled_letters"):
        return any(c.isascii() and c.isalnum() for c in term)
    return len(term) > 1


def apply(template_text: str, rng: random.Random, max_evasions: int = 2) -> tuple[str, list[str]]:
    """Disguise a marked-up message with 1..`max_evasions` evasions; returns (text, names).

    Falls back to the plain text (and no names) when no evasion fits the message.
    """
    terms = _MARK.findall(template_text)
    has_digits = bool(_DIGITS.search(plain(template_text)))
    candidates = [n for n in TERM_EVASIONS if any(_applicable(n, t) for t in terms)]
    if has_digits:
        candidates += list(CONTACT_EVASIONS)
    if any("\u4e00" <= c <= "\u9fff" for c in template_text):
        candidates += list(MESSAGE_EVASIONS)
    if not candidates:
        return plain(template_text), []
    chosen = rng.sample(candidates, min(len(candidates), rng.randint(1, max_evasions)))
    used: list[str] = []
    text = template_text
    for name in (n for n in chosen if n in TERM_EVASIONS):
        fn = TERM_EVASIONS[name]
        changed = False

        def one(match: re.Match[str], fn: Transform = fn, name: str = name) -> str:
            nonlocal changed
            term = match.group(1)
            if not _applicable(name, term) or rng.random() < 0.3:
                return match.group(0)
            changed = True
            return f"[[{fn(term, rng)}]]"

        text = _MARK.sub(one, text)
        if changed:
            used.append(name)
    text = plain(text)
    for name in (n for n in chosen if n in CONTACT_EVASIONS):
        contact = CONTACT_EVASIONS[name]

        def digits(match: re.Match[str], contact: Transform = contact) -> str:
            return contact(match.group(0), rng)

        changed_text = _DIGITS.sub(digits, text, count=1)
        if changed_text != text:
            text = changed_text
            used.append(name)
    for name in (n for n in chosen if n in MESSAGE_EVASIONS):
        changed_text = MESSAGE_EVASIONS[name](text, rng)
        if changed_text != text:
            text = changed_text
            used.append(name)
    return text, used
