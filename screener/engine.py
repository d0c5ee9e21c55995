"""The screening engine: a pure function of (events, compiled pack) → verdicts.

No I/O, no clock, no globals: `screener scan` runs it offline, the Kafka pipeline runs it
online, the benchmarks measure it, one code path. It works on whole batches: the batch's texts
are folded and matched together, and only messages with evidence reach Python-level rule
evaluation (rules that need no evidence, e.g. `len(media) > 3`, run for every event).

Long: the batch plan, the stateful entry point and verdict assembly share one hot loop's
locals; splitting the behaviour path out is the next step when it grows again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import compress
from operator import attrgetter
from typing import Any

import numpy as np

from screener.defaults import DEFAULT_MAX_TEXT_CHARS
from screener.events import Event, text_event
from screener.evidence import Evidence, Front
from screener.match.detectors import detect
from screener.match.lexicon import Hit
from screener.rules.batch import candidates
from screener.rules.condition import Reference, ReferenceKind, Signals
from screener.rules.pack import CompiledRule, RulePack
from screener.rules.pregate import Mask, ReadGate
from screener.state.behaviour import (
    _NO_FLAGS,
    CONTACT_DETECTORS,
    BehaviourView,
    Prepared,
    Row,
    Updates,
)
from screener.text.views import BatchText, visible_cut
from screener.verdict import ACTION_RANK, Action, Finding, Match, Verdict, Verdicts

_ACTIONS: tuple[Action, ...] = ("allow", "review", "block")


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
    """Evidence with matches to quote (signals, gates, banks and model scores have none)."""
    return tuple(sorted(((_FIELD[r.kind], r.key) for r in refs if r.kind in _FIELD), key=repr))


ESCALATION_RULE = "behaviour.escalation"
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": np.greater, ">=": np.greater_equal, "==": np.equal, "<": np.less, "<=": np.less_equal,
    "!=": np.not_equal,
}  # fmt: skip
_GATE = re.compile(r"^(?P<name>[a-z_.]+@\d+)(?P<op>>=|<=|==|!=|>|<)(?P<value>-?[\d.]+)$")


def _gates(pack: RulePack) -> tuple[tuple[str, str, Callable[[Any, Any], Any], float], ...]:
    keys = {
        str(ref.key) for rule in pack.rules for clause in rule.requires for ref in clause
        if ref.kind == "gate"
    }  # fmt: skip
    out = []
    for key in sorted(keys):
        m = _GATE.match(key)
        assert m is not None, key
        out.append((f"gate:{key}", m["name"], _OPS[m["op"]], float(m["value"])))
    return tuple(out)


def _contacts(evidence: Evidence) -> dict[int, list[str]]:
    """Contact details found per message (for `user.distinct_contacts`)."""
    return {
        i: [h.term for name, hits in found.items() if name in CONTACT_DETECTORS for h in hits]
        for i, found in evidence.detectors.items()
    }


class Engine:
    """Screens batches of events with one compiled pack. A value: everything derived from the
    pack is built here, once, and never changes; rules change by building a new `Engine` and
    swapping it in between batches (the plan memo below only caches, it never changes an
    answer)."""

    def __init__(self, pack: RulePack, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS):
        self._pack = pack
        self._max_text_chars = max_text_chars
        self._always: _Plan = tuple((r, _quote(r.references)) for r in pack.rules if not r.requires)
        self._plans: dict[tuple[tuple[str | int, ...], ...], _Plan] = {}
        self._alone: dict[CompiledRule, tuple[Action, tuple[str, ...]]] = {
            r: (self._action(_floor(r), r.score), (r.category,)) for r in pack.rules
        }
        # a rule firing alone: its verdict's action and categories, worked out once
        self._together: dict[tuple[CompiledRule, ...], tuple[Action, tuple[str, ...], float]] = {}
        """memo per set of rules firing together: action, ranked categories, total score
        (profiled: adding up and ranking was ~a third of such a verdict's cost)."""
        self._gates = _gates(pack)
        self._reads = ReadGate(pack.rules)
        self._lifted = tuple(
            tuple(tuple(f"{r.kind}:{r.key}" for r in clause) for clause in rule.requires)
            for rule in pack.rules
            if rule.requires and all(r.kind in ("gate", "bank") for c in rule.requires for r in c)
        )
        """rules that need only signals (gates, banks): each as clauses of flag keys."""
        """(flag key, signal, compare, threshold) for each signal-over-threshold rules use."""
        self._lifts: dict[frozenset[str], bool] = {}  # memo per flag-key set: profiled ~10%
        batch = [r.batch for r in pack.rules if r.batch is not None]
        self._batch = batch if len(batch) == len(pack.rules) else None
        self._shadow = any(r.shadow for r in pack.rules)
        """the pack has `mode: shadow` rules (without, verdicts skip the split below)."""

    @property
    def pack(self) -> RulePack:
        return self._pack

    @property
    def max_text_chars(self) -> int:
        """Longer texts are screened on their first characters (the verdict says so)."""
        return self._max_text_chars

    def screen(self, events: Sequence[Event], state: BehaviourView | None = None) -> Verdicts:
        """One verdict per event, in order (see `screen_stateful` for `state`)."""
        return self.screen_stateful(events, state)[0]

    def screen_stateful(
        self, events: Sequence[Event], state: BehaviourView | None
    ) -> tuple[Verdicts, Updates | None]:
        """Verdicts, and the state updates they imply (None without state or signals).

        `state` is read, never written: the caller hands the updates to the state's owner
        (`BehaviourState.apply`), so the same batch screened twice gives the same verdicts.
        """
        if not events:  # nothing to read or update (a scan batch of invalid lines only)
            state = None
        return self._decide(events, self._front(events), state)

    def screen_partitioned(
        self, events: Sequence[Event], parts: Sequence[tuple[BehaviourView, Sequence[int]]]
    ) -> tuple[Verdicts, list[Updates | None]]:
        """`screen_stateful` of each part's events (`parts`: a state and the ascending
        positions of its events; each event in one part) against its state, in one call: the
        batch is folded and matched once, only the state part runs per part (the service's
        input partitions: a small batch over six paid six matching passes before)."""
        groups = [where for _, where in parts]
        decided: dict[int, Verdict] = {}
        updates: list[Updates | None] = []
        front = self._front(events)
        # where signals are read is a per-message answer too (rules/pregate.py): asked once
        reads = self._reads.masks(events, front.evidence) if self.pack.behaviour else {}
        for (state, where), sub in zip(parts, front.split(groups), strict=True):
            whole = len(where) == len(events)
            part = events if whole else [events[i] for i in where]
            mine = reads if whole else {name: mask[where] for name, mask in reads.items()}
            verdicts, changes = self._decide(part, sub, state, mine)
            for j, verdict in verdicts.decided.items():
                decided[where[j]] = verdict
            updates.append(changes)
        ids = list(map(_ID, events))
        return Verdicts(ids, self.pack.version, dict(sorted(decided.items()))), updates

    def _front(self, events: Sequence[Event]) -> Front:
        """The batch's stateless part: texts cut to the limit, their views, their evidence."""
        limit = self._max_text_chars
        texts = list(map(_TEXT, events))
        long = [i for i, t in enumerate(texts) if len(t) > limit] if texts and max(
            map(len, texts)) > limit else []  # fmt: skip
        cut = [(i, visible_cut(self._pack.folding, texts[i], limit)) for i in long]
        long = [i for i, end in cut if end is not None]  # padding alone is never cut
        for i, end in cut:
            texts[i] = texts[i][:end]
        batch = BatchText.build(self._pack.folding, texts)
        # batch.texts, not texts: lone surrogates become U+FFFD there (`views.well_formed`)
        return Front(batch.texts, long, batch, self._evidence(batch))

    def _decide(
        self, events: Sequence[Event], front: Front, state: BehaviourView | None,
        reads: dict[str, Mask] | None = None,
    ) -> tuple[Verdicts, Updates | None]:  # fmt: skip
        """Verdicts from the front and the state's signals (`screen_stateful`; `reads`: the
        pre-gate's masks for these events, when already known)."""
        texts, long, batch, evidence = front.texts, front.cut, front.batch, front.evidence
        prepared = None
        flags: dict[int, dict[str, Any]] = {}
        messages = evidence.messages()
        if state is not None and self.pack.behaviour:
            # signals are read only where some rule may use them (see rules/pregate.py)
            if reads is None:
                reads = self._reads.masks(events, evidence)
            prepared = state.prepare(events, batch, _contacts(evidence), messages, reads)
            flags = self._flags(prepared)
            for i in [i for i in flags if i not in messages]:
                # no other evidence: only a rule that needs nothing but signals can fire
                key = frozenset(flags[i])
                if key not in self._lifts:
                    lifts = any(all(any(k in key for k in c) for c in r) for r in self._lifted)
                    self._lifts[key] = lifts
                if not self._lifts[key]:
                    del flags[i]
            messages |= set(flags)
        decided: dict[int, Verdict] = {}
        windows = prepared.values if prepared is not None else None
        for i in candidates(
            self._batch, events, evidence, messages, windows, flags, bool(self._always)
        ):
            event = events[i]
            signals = _signals(event, i, evidence)
            if prepared is not None:
                signals.behaviour = Row(prepared.values, i, flags.get(i, _NO_FLAGS))
            plan = self._plan(signals) if not signals.empty() else self._always
            fired = [
                (rule, refs) for rule, refs in plan
                if rule.condition(signals) and not (rule.exceptions and _excepted(rule, signals))
            ]  # fmt: skip
            if fired:
                make = self._shadowed if self._shadow else self._verdict
                decided[i] = make(event.id, texts[i], fired, signals)
        updates = None
        if prepared is not None:
            if self.pack.behaviour.escalate_after:
                self._escalate(events, decided, prepared)
            flagged = np.zeros(len(events), bool)
            flagged[[i for i, v in decided.items() if v.flagged]] = True
            updates = Updates(prepared, flagged)
        for i in long:
            if i not in decided:
                decided[i] = Verdict(events[i].id, self._pack.version)
            decided[i].truncated = True
        if long:
            decided = dict(sorted(decided.items()))
        return Verdicts(list(map(_ID, events)), self.pack.version, decided), updates

    def _flags(self, prepared: Prepared) -> dict[int, dict[str, Any]]:
        """Per message, the gates that hold (`gate:user.events@600>200`) and the banks its
        media match (`bank:known_bad`): vectorised over the batch, so a message no signal
        lifts over any rule's threshold costs nothing more."""
        out: dict[int, dict[str, Any]] = {}
        for key, name, compare, value in self._gates:
            values = prepared.values.get(name)
            if values is None:
                continue
            for i in np.nonzero(compare(values, value))[0].tolist():
                out.setdefault(i, {})[key] = True
        for name, hits in prepared.banks.items():
            for i in compress(range(len(hits)), hits):  # the few hits, found at C speed
                out.setdefault(i, {})[f"bank:{name}"] = True
        return out

    def _escalate(
        self, events: Sequence[Event], decided: dict[int, Verdict], prepared: Prepared
    ) -> None:
        """A user's Nth flagged message within the window (earlier batches and this one)
        gets the next action up, with a finding that says why."""
        needs = self.pack.behaviour
        flagged = [i for i in sorted(decided) if decided[i].flagged]
        before = prepared.flagged_before(flagged)
        seen: dict[tuple[int, str], list[int]] = {}
        owner = prepared.owner  # one batch over several states: a user's count is per state
        for i in flagged:
            verdict = decided[i]
            user, t = events[i].user.id, int(prepared.seconds[i])
            earlier = seen.setdefault((0 if owner is None else int(owner[i]), user), [])
            inside = sum(1 for e in earlier if t - needs.escalate_window < e <= t)
            earlier.append(t)
            if before[i] + inside + 1 >= needs.escalate_after and verdict.action != "block":
                verdict.action = "block" if verdict.action == "review" else "review"
                finding = Finding(ESCALATION_RULE, verdict.category or "", 0.0, ())
                verdict.findings = (*verdict.findings, finding)

    def _plan(self, s: Signals) -> _Plan:
        """The rules worth evaluating for this message, in pack order, each with the evidence
        it references that the message has (what its finding will quote).

        A rule is worth it if the message has some evidence for each of its clauses (see
        `requirements`); rules that need none always are. Memoised on the evidence's shape
        (which lexicons, tags, detectors, regexes): a feed shows few distinct shapes, so this
        is one dict look-up per message.
        """
        lifted = (
            tuple(k for k in s.behaviour if k.startswith(("gate:", "bank:"))) if s.behaviour else ()
        )
        shape: tuple[tuple[str | int, ...], ...] = (
            tuple(s.lexicons),
            tuple(s.tags),
            tuple(s.detectors),
            tuple(s.regexes),
            lifted,
            tuple(s.model),
        )
        plan = self._plans.get(shape)
        if plan is None:
            present = {
                Reference(kind, key)
                for kind, keys in zip(_KINDS, shape[:4], strict=True)
                for key in keys
            }  # fmt: skip
            present |= {Reference(str(k)[:4], str(k)[5:]) for k in lifted}  # type: ignore[arg-type]
            present |= {Reference("model", k) for k in shape[5]}
            plan = tuple(
                (rule, _quote(rule.references & present))
                for rule in self._pack.rules
                if all(clause & present for clause in rule.requires)
            )
            if len(self._plans) < 100_000:
                self._plans[shape] = plan
        return plan

    def screen_texts(self, texts: Iterable[str]) -> Verdicts:
        """Screen plain messages (ids are their positions)."""
        return self.screen([text_event(t, str(i)) for i, t in enumerate(texts)])

    # -- evidence ------------------------------------------------------------------------------

    def _evidence(self, batch: BatchText) -> Evidence:
        lexicons = self._pack.matcher.find(batch)
        detectors: dict[int, dict[str, list[Hit]]] = {}
        if self._pack.detectors:
            for d in detect(batch, self._pack.detectors):
                start, end = batch.to_original(d.message, d.w_start, d.w_end)
                hit = Hit(d.message, start, end, d.value)
                detectors.setdefault(d.message, {}).setdefault(d.detector, []).append(hit)
        regexes: dict[int, dict[int, list[Hit]]] = {}
        if self._pack.regexes.specs:
            for message, found in self._pack.regexes.find(batch).items():
                regexes[message] = {
                    k: [Hit(message, start, end, value) for start, end, value in spans]
                    for k, spans in found.items()
                }
        return Evidence(lexicons, detectors, regexes, self._model_scores(batch))

    def _model_scores(self, batch: BatchText) -> dict[int, dict[str, float]]:
        """Per message, the model categories whose probability reaches the lowest value a rule
        reads it at: the rest of the batch carries no model evidence and skips Python."""
        pack = self.pack
        if pack.model is None or not pack.model_floors:
            return {}
        probs = pack.model.predict(batch)
        names = pack.model.classes
        out: dict[int, dict[str, float]] = {}
        for k, floor in pack.model_floors:
            column = probs[:, k]
            rows = np.flatnonzero(column >= floor)
            for i, p in zip(rows.tolist(), column[rows].tolist(), strict=True):
                out.setdefault(i, {})[names[k]] = p
        return out

    # -- verdicts ------------------------------------------------------------------------------

    def _verdict(
        self, event_id: str, text: str, fired: Sequence[tuple[CompiledRule, Quote]], s: Signals
    ) -> Verdict:
        version = self._pack.version
        if len(fired) == 1:  # the common case: nothing to add up or rank
            rule, quote = fired[0]
            action, ranked = self._alone[rule]
            finding = Finding(rule.id, rule.category, rule.score, _matches(text, quote, s))
            return Verdict(event_id, version, action, rule.category, ranked, rule.score, (finding,))
        rules = tuple([rule for rule, _ in fired])
        summary = self._together.get(rules)
        if summary is None:
            summary = self._summary(rules)
            if len(self._together) < 100_000:
                self._together[rules] = summary
        action, ranked, total = summary
        findings = tuple([
            Finding(rule.id, rule.category, rule.score, _matches(text, quote, s))
            for rule, quote in fired
        ])  # fmt: skip
        return Verdict(event_id, version, action, ranked[0], ranked, total, findings)

    def _summary(self, rules: tuple[CompiledRule, ...]) -> tuple[Action, tuple[str, ...], float]:
        """Several rules firing together: scores add up per category, categories rank by
        their score, the action is the higher of the total's and the rules' own."""
        scores: dict[str, float] = {}
        floor = 0
        for rule in rules:
            scores[rule.category] = scores.get(rule.category, 0.0) + rule.score
            floor = max(floor, _floor(rule))
        total = sum(scores.values())
        ranked = tuple(sorted(scores, key=lambda c: -scores[c]))
        return self._action(floor, total), ranked, total

    def _shadowed(
        self, event_id: str, text: str, fired: Sequence[tuple[CompiledRule, Quote]], s: Signals
    ) -> Verdict:
        """The enforced rules decide the verdict; shadow rules' findings ride beside them."""
        enforced = [f for f in fired if not f[0].shadow]
        verdict = (
            self._verdict(event_id, text, enforced, s)
            if enforced
            else Verdict(event_id, self.pack.version)
        )
        verdict.shadow = tuple(
            Finding(rule.id, rule.category, rule.score, _matches(text, quote, s))
            for rule, quote in fired
            if rule.shadow
        )
        return verdict

    def _action(self, floor: int, total: float) -> Action:
        """Score → action by the pack's thresholds, never below a rule's own action."""
        t = self._pack.thresholds
        reached = 2 if total >= t.block else 1 if total >= t.review else 0
        return _ACTIONS[max(floor, reached)]


def _floor(rule: CompiledRule) -> int:
    return ACTION_RANK[rule.action] if rule.action is not None else 0


def _excepted(rule: CompiledRule, s: Signals) -> bool:
    return any(ex(s) for ex in rule.exceptions)


def _signals(event: Event, i: int, evidence: Evidence) -> Signals:
    lexicons: dict[int, list[Hit]] = {}
    tags: dict[str, list[Hit]] = {}
    found = evidence.lexicons.get(i, ())
    if len(found) == 1 and not found[0].source.tags:  # type: ignore[union-attr]
        # the usual message with evidence: one untagged hit (profiled: ~0.2 µs a message
        # with evidence in the loop below, about a tenth of its rule evaluation)
        lexicons[found[0].source.lexicon] = [found[0]]  # type: ignore[union-attr]
    else:
        for hit in found:
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
        event,
        lexicons,
        tags,
        evidence.detectors.get(i, {}),
        evidence.regexes.get(i, {}),
        None,
        evidence.model.get(i, {}),
    )


def _matches(text: str, quote: Quote, s: Signals) -> tuple[Match, ...]:
    if len(quote) == 1:
        field, key = quote[0]
        hits: list[Hit] = getattr(s, field).get(key, ())
        if len(hits) == 1:  # most findings quote one hit: no list to build
            h = hits[0]
            return (Match(text[h.start : h.end], h.start, h.end, h.term),)
        if field == "lexicons":  # one lexicon's hits: sorted, none nested
            return tuple([Match(text[h.start : h.end], h.start, h.end, h.term) for h in hits])
    spans = sorted({(h.start, h.end, h.term) for field, key in quote
                    for h in getattr(s, field).get(key, ())})  # fmt: skip
    return tuple([Match(text[a:b], a, b, term) for a, b, term in spans])
