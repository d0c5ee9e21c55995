"""Where a batch's behaviour signals can change a verdict: the state reads them only there.

Profiled on `screener bench engine` (established accounts, an image now and then, some
contact details): reading every event's windows — per series a gather, a ring mask and a sum,
plus the campaign bands' counts — was about half of what behaviour signals added to
screening, though almost no event passed the cheap part of any behaviour rule (an account
younger than 30 days, an image, a contact detail). Writes still happen for every event (the
counts must be right for later events); only the reads are gated.

Why a value read only here gives the same verdicts as reading it everywhere:

- each rule's batch form is evaluated with every signal, gate and bank *unknown*; where its
  `may` mask is false the rule cannot fire whatever the signals say (`screener.rules.batch`:
  `may` is a superset of where the condition holds);
- a signal is read at the events where some rule that looks at it may fire; elsewhere it is
  0, which no gate holds at (gates are only made for `> v >= 0`, `>= v > 0`, `== v > 0`), so a
  wrong value can only remove gates of rules that cannot fire there anyway;
- a rule reads a signal only when its event has some gate or bank holding (`Row` is falsy
  otherwise). A rule that needs one of its own gates or banks to be planned is sure of that;
  one that reads signals without (say `hit(x) and user.events(1h) < 5`) depends on every
  gate, so where it may fire every signal is read.

`tests/unit/test_pregate.py` checks gated against ungated verdicts on random event sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from screener.match.lexicon import Hit
from screener.rules.batch import BATCH_RULES_FROM, BatchRule, BatchSignals, Evidence
from screener.rules.pack import CompiledRule

Mask = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
_LEXICON = attrgetter("source.lexicon")


@dataclass(frozen=True, slots=True)
class _Reader:
    batch: BatchRule | None
    """None: the rule has no batch form, so it may fire anywhere"""
    signals: tuple[str, ...]
    """the signal names (`user.events@600`) its condition and exceptions read"""
    self_gated: bool
    """it is planned only where one of its own gates or banks holds"""
    needs_evidence: bool
    """it needs some lexicon, tag, detector, regex or model evidence: it cannot fire for a
    message without any (the engine's `messages`)"""


class ReadGate:
    """Per batch, for each signal any rule reads, the events where reading it matters."""

    def __init__(self, rules: Sequence[CompiledRule], *, ask_from: int = BATCH_RULES_FROM):
        """`ask_from`: messages with evidence from which the rules that need evidence are
        asked where they may fire; with fewer, their signals are read at all of them."""
        self.ask_from = ask_from
        readers = []
        wanted: dict[str, set[Any]] = {}
        for rule in rules:
            names = sorted(str(r.key) for r in rule.uses if r.kind == "signal")
            if not names:
                continue
            gated = any(
                clause and all(r.kind in ("gate", "bank") for r in clause)
                for clause in rule.requires
            )
            needs = any(
                clause and all(r.kind not in ("gate", "bank") for r in clause)
                for clause in rule.requires
            )
            readers.append(_Reader(rule.batch, tuple(names), gated, needs))
            for r in rule.uses:
                if r.kind in ("lexicon", "tag", "detector", "regex", "model"):
                    wanted.setdefault(r.kind, set()).add(r.key)
        self._readers = tuple(readers)
        self.names = frozenset(n for r in self._readers for n in r.signals)
        self._wanted = {kind: frozenset(keys) for kind, keys in wanted.items()}

    def masks(self, events: Sequence[Any], evidence: Evidence) -> dict[str, Mask]:
        """Signal name → events where it must be read (names no rule reads are absent)."""
        n = len(events)
        out = {name: np.zeros(n, bool) for name in self.names}
        everywhere = np.zeros(n, bool)
        # a rule that needs evidence can fire only for a message with some of the evidence
        # it (or another rule here) looks at: those few messages are asked about, with only
        # those lexicons' hits, so the batch arrays (fields, hit tables) cost in proportion
        # to them (profiled: ~3.5 ms of a 1,000-message batch when asked about all of it)
        kept = self._hits(evidence.lexicons)
        rows = self._rows(evidence, kept)
        whole = sub = None
        # few messages with evidence (the usual batch: ~50 of 1,000): a rule that needs
        # evidence may fire at most there, and reading its signals at all of them costs less
        # than asking its batch form (profiled: ~0.15 ms per rule for a few dozen rows, the
        # per-node cost of the array evaluator, vs a few µs of reads and gates at those rows)
        ask = len(rows) >= self.ask_from
        for reader in self._readers:
            if reader.batch is None:
                may, at = np.ones(n, bool), None
            elif reader.needs_evidence and not ask:
                may, at = np.ones(len(rows), bool), rows
            elif reader.needs_evidence:
                if sub is None:
                    sub = self._signals(events, evidence, kept, rows)
                may, at = reader.batch.may_fire(sub), rows
            else:
                if whole is None:
                    whole = BatchSignals(events, kept, evidence.detectors, evidence.regexes,
                                         evidence.model, signals_unknown=True)  # fmt: skip
                may, at = reader.batch.may_fire(whole), None
            if at is not None:
                full = np.zeros(n, bool)
                full[at] = may
                may = full
            if not reader.self_gated:
                everywhere |= may
            for name in reader.signals:
                out[name] |= may
        if everywhere.any():
            for mask in out.values():
                mask |= everywhere
        return out

    def _hits(self, lexicons: dict[int, list[Hit]]) -> dict[int, list[Hit]]:
        """Per message, the lexicon hits rules here read (a hit's lexicon or one of its tags)."""
        wanted = self._wanted.get("lexicon", frozenset())
        tags = self._wanted.get("tag", frozenset())
        kept: dict[int, list[Hit]] = {}
        for i, hits in lexicons.items():
            if not tags:  # most messages' hits are all from lexicons no rule here reads:
                try:  # skipped at C speed (profiled: the filter per hit was ~0.3 ms a batch)
                    if wanted.isdisjoint(map(_LEXICON, hits)):
                        continue
                except AttributeError:  # a hit without a source term: the filter below
                    pass
            mine = [
                h for h in hits if h.source is not None
                and (h.source.lexicon in wanted or (tags and not tags.isdisjoint(h.source.tags)))
            ]  # fmt: skip
            if mine:
                kept[i] = mine
        return kept

    def _rows(self, evidence: Evidence, kept: dict[int, list[Hit]]) -> list[int]:
        """Messages with some detector, regex, model or lexicon evidence rules here read."""
        rows = set(kept)
        for kind, found in (("detector", evidence.detectors), ("regex", evidence.regexes),
                            ("model", evidence.model)):  # fmt: skip
            keys = self._wanted.get(kind)
            if keys:
                rows.update(i for i, d in found.items() if not keys.isdisjoint(d))
        return sorted(rows)

    def _signals(
        self, events: Sequence[Any], evidence: Evidence, kept: dict[int, list[Hit]],
        rows: list[int],
    ) -> BatchSignals:  # fmt: skip
        """The batch's `rows` alone, with signals unknown."""
        at = {i: k for k, i in enumerate(rows)}
        return BatchSignals(
            [events[i] for i in rows],
            {at[i]: v for i, v in kept.items() if i in at},
            {at[i]: v for i, v in evidence.detectors.items() if i in at},
            {at[i]: v for i, v in evidence.regexes.items() if i in at},
            {at[i]: v for i, v in evidence.model.items() if i in at},
            signals_unknown=True,
        )
