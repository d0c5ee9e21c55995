"""`screener rules test`: every rule's inline examples, screened with the whole pack.

An example is a message text or a partial event (merged over a default chat event), so rules
on fields (`len(media) > 3`) can be tested too. `match` examples must make the rule fire,
`no_match` examples must not.

Behaviour rules need a sequence: `{repeat: N, every: S, event: {...}}` screens N copies of the
event, S seconds apart (ids numbered), optionally cycling over `users: U` accounts and
`conversations: C` conversations, through a fresh state; the verdict on the LAST one is what
is checked. Every example gets its own state, so examples never count each other's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screener.engine import Engine
from screener.events import Event, Model, ParseError, parse_obj
from screener.rules.pack import RulePack
from screener.state.behaviour import BehaviourState


@dataclass(frozen=True, slots=True)
class ExampleResult:
    rule: str
    origin: str
    expect_match: bool
    example: str
    fired: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.fired == self.expect_match


def _event(example: str | dict[str, Any], n: int) -> Model | ParseError:
    base: dict[str, Any] = {"kind": "chat", "id": f"example-{n}", "ts": 0, "user": {"id": "u"}}
    if isinstance(example, str):
        return parse_obj({**base, "text": example})
    user = example.get("user", {})
    if isinstance(user, dict):  # merged over the default user; anything else is validated as is
        user = {**base["user"], **user}
    return parse_obj({**base, **example, "user": user})


MAX_REPEAT = 10_000
_SEQUENCE_KEYS = {"repeat", "every", "users", "conversations", "event"}


def _sequence(example: dict[str, Any], n: int) -> list[Event] | ParseError:
    """The events of a `repeat:` example (or why it is not one)."""
    unknown = set(example) - _SEQUENCE_KEYS
    repeat, every = example.get("repeat", 0), example.get("every", 1)
    users, convs = example.get("users", 1), example.get("conversations", 0)
    base = example.get("event", {})
    if unknown or not isinstance(base, dict):
        return ParseError("schema", f"a sequence example takes {sorted(_SEQUENCE_KEYS)}")
    counts = (repeat, every, users, convs)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
        return ParseError("schema", "repeat, every, users and conversations are integers")
    assert isinstance(repeat, int)
    if not 1 <= repeat <= MAX_REPEAT or every < 0 or users < 1 or convs < 0:
        return ParseError("schema", f"repeat is 1..{MAX_REPEAT}; every, users, conversations >= 0")
    out: list[Event] = []
    for k in range(repeat):
        item: dict[str, Any] = {**base, "ts": 1_700_000_000_000 + k * every * 1000}
        user = item.get("user", {})
        if isinstance(user, dict):
            item["user"] = {"id": f"u{n}-{k % users}", **user}
        if convs:
            conv = item.get("conversation", {})
            conv = conv if isinstance(conv, dict) else {}
            item["conversation"] = {**conv, "id": f"c{k % convs}"}
        event = _event(item, n)
        if isinstance(event, ParseError):
            return event
        out.append(event.model_copy(update={"id": f"example-{n}-{k}"}))
    return out


def _fired(engine: Engine, pack: RulePack, events: list[Event], rule_id: str) -> bool:
    """Screen the events through a fresh state in one batch; did the rule fire on the last?"""
    state = BehaviourState(pack.behaviour, capacity=1024) if pack.behaviour else None
    verdicts, _ = engine.screen_stateful(events, state)
    return any(f.rule == rule_id for f in verdicts[len(events) - 1].findings)


def run_examples(pack: RulePack) -> list[ExampleResult]:
    engine = Engine(pack)
    if pack.behaviour:
        return _run_each(engine, pack)
    cases: list[tuple[str, str, bool, str | dict[str, Any]]] = []
    for rule in pack.rules:
        if rule.examples is None:
            continue
        cases += [(rule.id, rule.origin, True, ex) for ex in rule.examples.match]
        cases += [(rule.id, rule.origin, False, ex) for ex in rule.examples.no_match]
    parsed = [_event(ex, n) for n, (_, _, _, ex) in enumerate(cases)]
    events = [e for e in parsed if not isinstance(e, ParseError)]
    verdicts = iter(engine.screen(events))
    results = []
    for (rule_id, origin, expect, ex), event in zip(cases, parsed, strict=True):
        shown = ex if isinstance(ex, str) else str(ex)
        if isinstance(event, ParseError):
            results.append(ExampleResult(rule_id, origin, expect, shown, False, event.detail))
            continue
        verdict = next(verdicts)
        fired = any(f.rule == rule_id for f in (*verdict.findings, *verdict.shadow))
        results.append(ExampleResult(rule_id, origin, expect, shown, fired))
    return results


def _run_each(engine: Engine, pack: RulePack) -> list[ExampleResult]:
    """With behaviour rules: every example alone, through its own state."""
    results = []
    n = 0
    for rule in pack.rules:
        if rule.examples is None:
            continue
        for expect, examples in ((True, rule.examples.match), (False, rule.examples.no_match)):
            for ex in examples:
                n += 1
                shown = ex if isinstance(ex, str) else str(ex)
                events: list[Event] | Event | ParseError
                if isinstance(ex, dict) and "repeat" in ex:
                    events = _sequence(ex, n)
                else:
                    events = _event(ex, n)
                if isinstance(events, ParseError):
                    results.append(ExampleResult(rule.id, rule.origin, expect, shown, False,
                                                 events.detail))  # fmt: skip
                    continue
                batch: list[Event] = events if isinstance(events, list) else [events]
                fired = _fired(engine, pack, batch, rule.id)
                results.append(ExampleResult(rule.id, rule.origin, expect, shown, fired))
    return results
