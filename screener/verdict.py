"""Verdicts (DESIGN.md contract): what the engine decided about one event, and why.

Plain slotted dataclasses, not frozen ones: a frozen dataclass's __init__ costs ~1 µs per
object, and the engine makes one verdict per message. Treat them as values all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

Action = Literal["allow", "review", "block"]
ACTION_RANK: dict[str, int] = {"allow": 0, "review": 1, "block": 2}


@dataclass(slots=True)
class Match:
    """One piece of evidence; `start`/`end` index the ORIGINAL text (code points)."""

    text: str
    start: int
    end: int
    term: str


@dataclass(slots=True)
class Finding:
    rule: str
    category: str
    score: float
    matches: tuple[Match, ...] = ()


@dataclass(slots=True)
class Verdict:
    event_id: str | None
    rules_version: str
    action: Action = "allow"
    category: str | None = None
    categories: tuple[str, ...] = ()
    score: float = 0.0
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    """set only for input that is not an event: `reason: detail`."""
    truncated: bool = False
    line: int | None = None
    """input line number, reported with errors from `screener scan`."""

    @property
    def flagged(self) -> bool:
        return self.action != "allow"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "flagged": self.flagged,
            "action": self.action,
            "category": self.category,
            "categories": list(self.categories),
            "score": self.score,
            "rules_version": self.rules_version,
            "findings": [
                {
                    "rule": f.rule,
                    "category": f.category,
                    "score": f.score,
                    "matches": [
                        {"text": m.text, "start": m.start, "end": m.end, "term": m.term}
                        for m in f.matches
                    ],
                }
                for f in self.findings
            ],
        }
        if self.error is not None:
            out["error"] = self.error
            out["line"] = self.line
        if self.truncated:
            out["truncated"] = True
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())
