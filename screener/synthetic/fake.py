"""Deterministic fake values for the sample events: ids, contacts and their disguises.

The disguises are the evasion primitives of `screener.synthetic.evasion` (full width,
keycaps, circled letters, Chinese digits, zero-width characters), so that one module owns
how offenders write; this module only decides, with one `random.Random`, which to use.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from screener.synthetic import evasion

ZWSP = evasion.ZERO_WIDTH[0]


def circled(s: str) -> str:
    """Letters as circled letters (ⓠⓠ), deterministically."""
    return evasion.circled_letters(s.lower(), _NO_RNG)


def keycap(digits: str) -> str:
    return evasion.keycap_digits(digits, _NO_RNG)


def zero_width_join(s: str) -> str:
    """A zero-width space between every character (the deterministic form of the evasion)."""
    return ZWSP.join(s)


def _digits(table: str, number: str) -> str:
    return "".join(table[int(d)] for d in number)


_NO_RNG = random.Random(0)
"""Passed to the evasion primitives that take an rng but do not draw from it."""


@dataclass
class Faker:
    """Deterministic fake values, all drawn from one `random.Random`."""

    rng: random.Random

    def pick(self, items: Sequence[str]) -> str:
        return self.rng.choice(items)

    def phone(self) -> str:
        return self.pick(["138", "139", "188", "186", "159"]) + "".join(
            self.rng.choice("0123456789") for _ in range(8)
        )

    def qq(self) -> str:
        return str(self.rng.randint(10_000_000, 3_999_999_999))

    def wechat_id(self) -> str:
        stem = self.pick(["mm", "xiao", "lucky", "vip", "tian", "meimei", "kk", "ace"])
        return f"{stem}_{self.rng.randint(100, 99999)}"

    def domain(self) -> str:
        label = "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(5))
        return f"{label}.{self.pick(['top', 'vip', 'xyz', 'cc'])}"

    def hexdigits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    # Contacts as adverts write them: a channel word in one of its disguises, then an id.
    def wechat(self) -> str:
        channel = self.pick(["加V信", "加 微 信", "加薇❤信", "ｖｘ", "Ｖ信", "威信", "jia wei xin",
                             "加微", "v❤", "薇"])  # fmt: skip
        return f"{channel}：{self.wechat_id()}"

    def phone_obfuscated(self) -> str:
        number = self.phone()
        style = self.rng.randrange(5)
        if style == 0:
            return keycap(number)
        if style == 1:
            return _digits(evasion.CN_DIGITS_FORMAL, number)
        if style == 2:
            return _digits(evasion.CN_DIGITS, number)
        if style == 3:
            return f"{number[:3]} {number[3:7]} {number[7:]}"
        return evasion.fullwidth(number)

    def qq_obfuscated(self) -> str:
        label = self.pick(["ⓠⓠ", "扣扣", "企鹅", "Q", "ＱＱ", "qq"])
        return f"{label} {self.qq()}"

    def contact(self) -> str:
        return self.rng.choice([self.wechat, self.phone_obfuscated, self.qq_obfuscated])()
