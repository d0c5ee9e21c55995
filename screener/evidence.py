"""A batch's stateless screening input: its texts as screened, their views, and their evidence.

The engine computes this once per batch (`Engine._front`); everything after it reads one
message at a time or one state at a time. So the service, which screens each input
partition's events against that partition's behaviour state, splits it per partition
(`Front.split`) instead of matching every partition's messages again: at paced rates the
batches are small and that per-call matching was most of their cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from screener.match.lexicon import Hit
from screener.text.selection import MessageCodes, Selection

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Evidence:
    """Per message (by position in the batch): what the matchers and the model found."""

    lexicons: dict[int, list[Hit]]
    detectors: dict[int, dict[str, list[Hit]]]
    regexes: dict[int, dict[int, list[Hit]]]
    model: dict[int, dict[str, float]]
    """message → learned-model category → probability (where it reaches the pack's floor)."""

    def messages(self) -> set[int]:
        return set(self.lexicons) | set(self.detectors) | set(self.regexes) | set(self.model)


@dataclass(frozen=True, slots=True)
class Front:
    """What the engine's stateful part reads of a batch (see the module docstring)."""

    texts: list[str]
    """each event's text as screened (cut at the engine's length limit)"""
    cut: list[int]
    """the events whose text was cut (their verdicts say so)"""
    batch: MessageCodes
    evidence: Evidence

    def split(self, groups: Sequence[Sequence[int]]) -> list[Front]:
        """One front per group of events (ascending positions, each event in one group), its
        events renumbered 0, 1, … in group order: the same evidence, views and texts a front
        of just those events has. Hits keep their batch-wide `message` (nothing after
        matching reads it)."""
        if len(groups) == 1 and len(groups[0]) == len(self.texts):
            return [self]
        group_of: dict[int, tuple[int, int]] = {
            i: (g, j) for g, where in enumerate(groups) for j, i in enumerate(where)
        }
        ev, n = self.evidence, len(groups)
        lexicons = _spread(ev.lexicons, group_of, n)
        detectors = _spread(ev.detectors, group_of, n)
        regexes = _spread(ev.regexes, group_of, n)
        model = _spread(ev.model, group_of, n)
        cut: list[list[int]] = [[] for _ in groups]
        for i in self.cut:
            g, j = group_of[i]
            cut[g].append(j)
        texts = self.texts
        return [
            Front(
                [texts[i] for i in where],
                cut[g],
                Selection(self.batch, where),
                Evidence(lexicons[g], detectors[g], regexes[g], model[g]),
            )
            for g, where in enumerate(groups)
        ]


def _spread(
    found: dict[int, V], group_of: dict[int, tuple[int, int]], n: int
) -> list[dict[int, V]]:
    """`found` (batch position → value) as one dict per group, keyed by position in it, in
    the same order (matchers' dicts are in message order; rule planning does not depend on
    it, but verdicts are assembled in it)."""
    out: list[dict[int, V]] = [{} for _ in range(n)]
    for i, value in found.items():
        g, j = group_of[i]
        out[g][j] = value
    return out
