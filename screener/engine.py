"""The screening engine: a pure function of (events, compiled pack) → verdicts.

No I/O, no clock, no globals: `screener scan` runs it offline, the Kafka pipeline runs it
online, the benchmarks measure it, one code path. It works on whole batches: the batch's texts
are folded and matched together, and only messages with evidence reach Python-level rule
evaluation (rules that need no evidence, e.g. `len(media) > 3`, run for every event).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from screener.events import Event, text_event
from screener.match.detectors import detect
from screener.match.lexicon import Hit
from screener.rules.condition import Reference, ReferenceKind, Signals
from screener.rules.pack import CompiledRule, RulePack
from screener.text.views import BatchText
from screener.verdict import ACTION_RANK, Action, Finding, Match, Verdict, Verdicts

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


Quote = tuple[tuple[str, str | int], ...]
"""Where a finding's matches come from: (`Signals` field, key) of each piece of evidence."""
_Plan = tuple[tuple[CompiledRule, Quote], ...]
"""Rules to evaluate, each with the evidence it references that the message has."""
_TEXT, _ID = attrgetter("text"), attrgetter("id")
_FIELD: dict[ReferenceKind, str] = {
    "lexicon": "lexicons", "tag": "tags", "detector": "detectors", "regex": "regexes"
}  # fmt: skip
_KINDS: tuple[ReferenceKind, ...] = tuple(_FIELD)


def _quote(refs: Iterable[Reference]) -> Quote:
    return tuple(sorted(((_FIELD[r.kind], r.key) for r in refs), key=repr))


class Engine:
    """Screens batches of events with one compiled pack (swap `pack` to reload rules)."""

    def __init__(self, pack: RulePack, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS):
        self.pack = pack
        self.max_text_chars = max_text_chars
        self._always: _Plan = tuple((r, _quote(r.references)) for r in pack.rules if not r.requires)
        self._plans: dict[tuple[tuple[str | int, ...], ...], _Plan] = {}
        self._alone: dict[CompiledRule, tuple[Action, tuple[str, ...]]] = {
            r: (self._action(_floor(r), r.score), (r.category,)) for r in pack.rules
        }
        """a rule firing alone: its verdict's action and categories, worked out once."""

    def screen(self, events: Sequence[Event], state: object | None = None) -> Verdicts:
        """One verdict per event, in order. `state` is reserved for per-account signals."""
        del state
        limit = self.max_text_chars
        texts = list(map(_TEXT, events))
        long = [i for i, t in enumerate(texts) if len(t) > limit] if texts and max(
            map(len, texts)) > limit else []  # fmt: skip
        for i in long:
            texts[i] = texts[i][:limit]
        batch = BatchText.build(self.pack.folding, texts)
        evidence = self._evidence(batch)
        decided: dict[int, Verdict] = {}
        for i in sorted(evidence.messages()) if not self._always else range(len(events)):
            event = events[i]
            signals = _signals(event, i, evidence)
            plan = self._plan(signals) if not signals.empty() else self._always
            fired = [
                (rule, refs) for rule, refs in plan
                if rule.condition(signals) and not (rule.exceptions and _excepted(rule, signals))
            ]  # fmt: skip
            if fired:
                decided[i] = self._verdict(event.id, texts[i], fired, signals)
        for i in long:
            if i not in decided:
                decided[i] = Verdict(events[i].id, self.pack.version)
            decided[i].truncated = True
        if long:
            decided = dict(sorted(decided.items()))
        return Verdicts(list(map(_ID, events)), self.pack.version, decided)

    def _plan(self, s: Signals) -> _Plan:
        """The rules worth evaluating for this message, in pack order, each with the evidence
        it references that the message has (what its finding will quote).

        A rule is worth it if the message has some evidence for each of its clauses (see
        `requirements`); rules that need none always are. Memoised on the evidence's shape
        (which lexicons, tags, detectors, regexes): a feed shows few distinct shapes, so this
        is one dict look-up per message.
        """
        shape: tuple[tuple[str | int, ...], ...] = (
            tuple(s.lexicons),
            tuple(s.tags),
            tuple(s.detectors),
            tuple(s.regexes),
        )
        plan = self._plans.get(shape)
        if plan is None:
            present = {
                Reference(kind, key)
                for kind, keys in zip(_KINDS, shape, strict=True)
                for key in keys
            }  # fmt: skip
            plan = tuple(
                (rule, _quote(rule.references & present))
                for rule in self.pack.rules
                if all(clause & present for clause in rule.requires)
            )
            if len(self._plans) < 100_000:
                self._plans[shape] = plan
        return plan

    def screen_texts(self, texts: Iterable[str]) -> Verdicts:
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
        self, event_id: str, text: str, fired: Sequence[tuple[CompiledRule, Quote]], s: Signals
    ) -> Verdict:
        version = self.pack.version
        if len(fired) == 1:  # the common case: nothing to add up or rank
            rule, quote = fired[0]
            action, ranked = self._alone[rule]
            finding = Finding(rule.id, rule.category, rule.score, _matches(text, quote, s))
            return Verdict(event_id, version, action, rule.category, ranked, rule.score, (finding,))
        scores: dict[str, float] = {}
        floor = 0
        for rule, _ in fired:
            scores[rule.category] = scores.get(rule.category, 0.0) + rule.score
            floor = max(floor, _floor(rule))
        total = sum(scores.values())
        ranked = tuple(sorted(scores, key=lambda c: -scores[c]))
        findings = tuple(
            Finding(rule.id, rule.category, rule.score, _matches(text, quote, s))
            for rule, quote in fired
        )
        action = self._action(floor, total)
        return Verdict(event_id, version, action, ranked[0], ranked, total, findings)

    def _action(self, floor: int, total: float) -> Action:
        """Score → action by the pack's thresholds, never below a rule's own action."""
        t = self.pack.thresholds
        reached = 2 if total >= t.block else 1 if total >= t.review else 0
        return _ACTIONS[max(floor, reached)]


def _floor(rule: CompiledRule) -> int:
    return ACTION_RANK[rule.action] if rule.action is not None else 0


def _excepted(rule: CompiledRule, s: Signals) -> bool:
    return any(ex(s) for ex in rule.exceptions)


def _signals(event: Event, i: int, evidence: _Evidence) -> Signals:
    lexicons: dict[int, list[Hit]] = {}
    tags: dict[str, list[Hit]] = {}
    for hit in evidence.lexicons.get(i, ()):
        term = hit.source
        assert term is not None
        same = lexicons.get(term.lexicon)
        if same is None:
            lexicons[term.lexicon] = [hit]
        else:
            same.append(hit)
        for tag in term.tags:
            tags.setdefault(tag, []).append(hit)
    return Signals(
        event, lexicons, tags, evidence.detectors.get(i, {}), evidence.regexes.get(i, {})
    )


def _matches(text: str, quote: Quote, s: Signals) -> tuple[Match, ...]:
    if len(quote) == 1:
        field, key = quote[0]
        hits: list[Hit] = getattr(s, field).get(key, ())
        if len(hits) == 1 or field == "lexicons":  # one lexicon's hits: sorted, none nested
            return tuple([Match(text[h.start : h.end], h.start, h.end, h.term) for h in hits])
    spans = sorted({(h.start, h.end, h.term) for field, key in quote
                    for h in getattr(s, field).get(key, ())})  # fmt: skip
    return tuple([Match(text[a:b], a, b, term) for a, b, term in spans])
