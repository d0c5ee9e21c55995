"""What shadow rules would change if they acted, on labelled data (`screener eval --shadow`).

The same texts are screened twice: with the pack as it is (shadow rules only recorded) and
with every shadow rule enforced. A row changes when its action differs; per shadow rule the
report counts where it fired and which flags it would add, split by the gold label, so a
policy team sees the precision a rule would bring before removing its `mode: shadow` line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from screener.engine import Engine
from screener.rules import RulePack


def enforced(pack: RulePack) -> RulePack:
    """The pack with every `mode: shadow` rule acting (its version marked as such)."""
    rules = tuple(replace(r, shadow=False) if r.shadow else r for r in pack.rules)
    return replace(pack, rules=rules, version=f"{pack.version}+shadow-enforced")


@dataclass
class ShadowImpact:
    rules: tuple[str, ...]
    rows: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    """shadow rule → rows it fired on."""
    new_flags: Counter[tuple[str, bool]] = field(default_factory=Counter)
    """(shadow rule, gold harmful) → rows allowed as is and flagged with it enforced."""
    changed: Counter[tuple[str, str, bool]] = field(default_factory=Counter)
    """(action as is, action enforced, gold harmful) → rows."""

    def render(self) -> str:
        if not self.rules:
            return "No shadow rules in the pack.\n"
        lines = [f"Shadow rules on {self.rows} labelled rows (what enforcing them would add):", "",
                 "| rule | fired | new flags on harmful rows | new flags on benign rows |",
                 "|---|---:|---:|---:|"]  # fmt: skip
        for rule in self.rules:
            lines.append(f"| {rule} | {self.fired[rule]} | {self.new_flags[rule, True]} | "
                         f"{self.new_flags[rule, False]} |")  # fmt: skip
        lines += ["", "| action as is → enforced | harmful rows | benign rows |", "|---|---:|---:|"]
        pairs = sorted({(a, b) for a, b, _ in self.changed})
        for a, b in pairs:
            lines.append(
                f"| {a} → {b} | {self.changed[a, b, True]} | {self.changed[a, b, False]} |"
            )
        if not pairs:
            lines.append("| (no row changes) | 0 | 0 |")
        return "\n".join(lines) + "\n"


def shadow_impact(
    pack: RulePack, texts: Sequence[str], harmful: Sequence[bool], batch: int = 2000
) -> ShadowImpact:
    """Screen `texts` with the pack as is and with its shadow rules enforced; compare."""
    impact = ShadowImpact(tuple(r.id for r in pack.rules if r.shadow), len(texts))
    if not impact.rules:
        return impact
    as_is, acting = Engine(pack), Engine(enforced(pack))
    for lo in range(0, len(texts), batch):
        chunk = texts[lo : lo + batch]
        for i, (now, then) in enumerate(zip(as_is.screen_texts(chunk),
                                            acting.screen_texts(chunk), strict=True)):  # fmt: skip
            gold = harmful[lo + i]
            for f in now.shadow:
                impact.fired[f.rule] += 1
                if not now.flagged and then.flagged:
                    impact.new_flags[f.rule, gold] += 1
            if now.action != then.action:
                impact.changed[now.action, then.action, gold] += 1
    return impact
