"""`screener rules test`: every rule's inline examples, screened with the whole pack.

An example is a message text or a partial event (merged over a default chat event), so rules
on fields (`len(media) > 3`) can be tested too. `match` examples must make the rule fire,
`no_match` examples must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screener.engine import Engine
from screener.events import Event, ParseError, parse_obj
from screener.rules.pack import RulePack


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


def _event(example: str | dict[str, Any], n: int) -> Event | ParseError:
    base: dict[str, Any] = {"kind": "chat", "id": f"example-{n}", "ts": 0, "user": {"id": "u"}}
    if isinstance(example, str):
        return parse_obj({**base, "text": example})
    user = example.get("user", {})
    if isinstance(user, dict):  # merged over the default user; anything else is validated as is
        user = {**base["user"], **user}
    return parse_obj({**base, **example, "user": user})


def run_examples(pack: RulePack) -> list[ExampleResult]:
    engine = Engine(pack)
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
        fired = any(f.rule == rule_id for f in next(verdicts).findings)
        results.append(ExampleResult(rule_id, origin, expect, shown, fired))
    return results
