"""The screening engine: a pure function of (events, compiled pack) → verdicts.

No I/O, no clock, no globals: `screener scan` runs it offline, the Kafka pipeline runs it
online, the benchmarks measure it, one code path. It works on whole batches: the batch's texts
are folded and matched together, and only messages with evidence reach Python-level rule
evaluation (rules that need no evidence, e.g. `len(media) > 3`, run for every event).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from screener.events import Event, text_event
from screener.match.detectors import detect
from screener.match.lexicon import Hit
from screener.rules.condition import Reference, Signals
from screener.rules.pack import CompiledRule, RulePack
from screener.text.views import BatchText
from screener.verdict import ACTION_RANK, Action, Finding, Match, Verdict

_ACTIONS: tuple[Action, ...] = ("allow", "review", "block")
DEFAULT_MAX_TEXT_CHARS = 20_000
"""Longer texts are screened on their first characters and the verdict says `truncated`."""


@dataclass(frozen=True, slots=True)
class _Evidence:
    lexicons: dict[int, list[Hit]]
    detectors: dict[int, dict[str, list[Hit]]]
    regexes: dict[int, dict[int, list[Hit]]]

    def messages(self) -> set[int]:
        return set(self.lexicons) | set(self.detectors) | set(self.regexes)


class Engine:
    """Screens batches of events with one compiled pack (swap `pack` to reload rules)."""

    def __init__(self, pack: RulePack, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS):
        self.pack = pack
        self.max_text_chars = max_text_chars
        self._always = tuple(r for r in pack.rules if not r.needs_signal)
        self._always_ids = frozenset(i for i, r in enumerate(pack.rules) if not r.needs_signal)
        self._by_shape: dict[tuple[tuple[str | int, ...], ...], tuple[CompiledRule, ...]] = {}

    def screen(self, events: Sequence[Event], state: object | None = None) -> list[Verdict]:
        """One verdict per event, in order. `state` is reserved for per-account signals."""
        del state
        limit = self.max_text_chars
        texts = [e.text for e in events]
        long = [i for i, t in enumerate(texts) if len(t) > limit]
        for i in long:
            texts[i] = texts[i][:limit]
        batch = BatchText.build(self.pack.folding, texts)
        evidence = self._evidence(batch)
        version = self.pack.version
        # every message gets a clean verdict in one pass; the few with evidence are redone
        verdicts = [Verdict(e.id, version) for e in events]
        for i in sorted(evidence.messages()) if not self._always else range(len(events)):
            event = events[i]
            signals = _signals(event, i, evidence)
            rules = self._relevant(signals) if not signals.empty() else self._always
            fired = [
                r for r in rules
                if r.condition(signals) and not (r.exceptions and _excepted(r, signals))
            ]  # fmt: skip
            if fired:
                verdicts[i] = self._verdict(event.id, texts[i], fired, signals)
        for i in long:
            verdicts[i].truncated = True
        return verdicts

    def _relevant(self, s: Signals) -> Sequence[CompiledRule]:
        """Rules that look at evidence this message has, plus those that need none, in order.

        Memoised on the evidence's shape (which lexicons, tags, detectors, regexes): a feed
        shows few distinct shapes, so this is one dict look-up per message.
        """
        shape: tuple[tuple[str | int, ...], ...] = (
            tuple(s.lexicons),
            tuple(s.tags),
            tuple(s.detectors),
            tuple(s.regexes),
        )
        rules = self._by_shape.get(shape)
        if rules is None:
            triggers = self.pack.triggers
            ids = set(self._always_ids)
            for kind, keys in zip(("lexicon", "tag", "detector", "regex"), shape, strict=True):
                for key in keys:
                    ids.update(triggers.get(Reference(kind, key), ()))
            rules = tuple(self.pack.rules[i] for i in sorted(ids))
            if len(self._by_shape) < 100_000:
                self._by_shape[shape] = rules
        return rules

    def screen_texts(self, texts: Iterable[str]) -> list[Verdict]:
        """Screen plain messages (ids are their positions)."""
        return self.screen([text_event(t, str(i)) for i, t in enumerate(texts)])

    # -- evidence ------------------------------------------------------------------------------

    def _evidence(self, batch: BatchText) -> _Evidence:
        lexicons = self.pack.matcher.find(batch)
        detectors: dict[int, dict[str, list[Hit]]] = {}
        if self.pack.detectors:
            for d in detect(batch, self.pack.detectors):
                start, end = batch.to_original(d.message, d.w_start, d.w_end)
                hit = Hit(d.message, start, end, d.value)
                detectors.setdefault(d.message, {}).setdefault(d.detector, []).append(hit)
        regexes: dict[int, dict[int, list[Hit]]] = {}
        if self.pack.regexes.specs:
            for message, found in self.pack.regexes.find(batch).items():
                regexes[message] = {
                    k: [Hit(message, start, end, value) for start, end, value in spans]
                    for k, spans in found.items()
                }
        return _Evidence(lexicons, detectors, regexes)

    # -- verdicts ------------------------------------------------------------------------------

    def _verdict(
        self, event_id: str, text: str, fired: list[CompiledRule], s: Signals
    ) -> Verdict:
        scores: dict[str, float] = {}
        floor = 0
        findings = []
        for rule in fired:
            scores[rule.category] = scores.get(rule.category, 0.0) + rule.score
            if rule.action is not None:
                floor = max(floor, ACTION_RANK[rule.action])
            findings.append(Finding(rule.id, rule.category, rule.score, _matches(text, rule, s)))
        total = sum(scores.values())
        t = self.pack.thresholds
        reached = 2 if total >= t.block else 1 if total >= t.review else 0
        action = _ACTIONS[max(floor, reached)]
        ranked = sorted(scores, key=lambda c: -scores[c])
        return Verdict(
            event_id, self.pack.version, action, ranked[0], tuple(ranked), total, tuple(findings)
        )


def _excepted(rule: CompiledRule, s: Signals) -> bool:
    return any(ex(s) for ex in rule.exceptions)


def _signals(event: Event, i: int, evidence: _Evidence) -> Signals:
    s = Signals(event)
    hits = evidence.lexicons.get(i)
    if hits:
        for hit in hits:
            assert hit.source is not None
            s.lexicons.setdefault(hit.source.lexicon, []).append(hit)
            for tag in hit.source.tags:
                s.tags.setdefault(tag, []).append(hit)
    s.detectors = evidence.detectors.get(i, {})
    s.regexes = evidence.regexes.get(i, {})
    return s


def _evidence_for(ref: Reference, s: Signals) -> list[Hit]:
    if ref.kind == "lexicon":
        return s.lexicons.get(int(ref.key), [])
    if ref.kind == "tag":
        return s.tags.get(str(ref.key), [])
    if ref.kind == "detector":
        return s.detectors.get(str(ref.key), [])
    return s.regexes.get(int(ref.key), [])


def _matches(text: str, rule: CompiledRule, s: Signals) -> tuple[Match, ...]:
    spans = sorted({(h.start, h.end, h.term) for ref in rule.references
                    for h in _evidence_for(ref, s)})  # fmt: skip
    return tuple(Match(text[a:b], a, b, term) for a, b, term in spans)
