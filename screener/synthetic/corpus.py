"""Deterministic synthetic messages and lexicons for benchmarks (no dataset needed).

Mixed Chinese/English chat of ~40 characters on average, with a share of violating messages
written with the evasions offenders use, and a lexicon of realistic size drawn from the same
character set so that matches happen at a realistic rate.
"""

from __future__ import annotations

import random

# The most frequent simplified characters, roughly in frequency order.
COMMON = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学"
    "对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头"
    "面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向"
    "情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信"
    "北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难"
    "神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物"
    "台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指"
    "思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步"
    "完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双"
)
WORDS_EN = [
    "ok",
    "see",
    "you",
    "later",
    "tonight",
    "thanks",
    "lol",
    "what",
    "time",
    "meeting",
    "free",
    "call",
    "me",
    "maybe",
    "the",
    "club",
    "game",
    "photo",
    "share",
    "happy",
    "birthday",
    "coffee",
    "work",
    "home",
    "train",
    "late",
    "sorry",
    "good",
    "morning",
    "weekend",
    "plan",
    "movie",
    "dinner",
    "where",
    "are",
    "you",
    "send",
    "link",
    "price",
    "order",
    "ship",
    "today",
    "news",
    "great",
    "love",
    "this",
]
VIOLATIONS = (
    "约炮加V信{id}", "包夜 上门服务 薇❤信 {id}", "兼职刷单日结 加ｑｑ{qq}",
    "网赌上分 充值送彩金 {url}", "高清无码视频 私聊 vx:{id}", "不给钱就把你的裸照发给你家人",
    "同城約炮 1⃣8⃣8⃣{phone}", "escort service call {phone2} tonight",
    "代开发票 办证 电话{phone2}", "百家乐 稳赚不赔 加微{id}",
)  # fmt: skip


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
