"""Verdicts (contract: docs/contracts.md): what the engine decided about one event, and why.

Plain slotted dataclasses, not frozen ones: a frozen dataclass's __init__ costs ~1 µs per
object, and the engine makes one verdict per message. Treat them as values all the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

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
    shadow: tuple[Finding, ...] = ()
    """findings of `mode: shadow` rules: recorded (audit verdicts, scan), never acted on."""

    @property
    def flagged(self) -> bool:
        return self.action != "allow"

    def to_dict(self, *, shadow: bool = True) -> dict[str, Any]:
        """The contract's verdict object; `shadow` (only when a shadow rule fired) is left out
        with `shadow=False`, as on the review topic, where shadow rules must not show."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "flagged": self.flagged,
            "action": self.action,
            "category": self.category,
            "categories": list(self.categories),
            "score": self.score,
            "rules_version": self.rules_version,
            "findings": _findings(self.findings),
        }
        if shadow and self.shadow:
            out["shadow"] = _findings(self.shadow)
        if self.error is not None:
            out["error"] = self.error
            out["line"] = self.line
        if self.truncated:
            out["truncated"] = True
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def _findings(findings: tuple[Finding, ...]) -> list[dict[str, Any]]:
    return [
        {
            "rule": f.rule,
            "category": f.category,
            "score": f.score,
            "matches": [
                {"text": m.text, "start": m.start, "end": m.end, "term": m.term} for m in f.matches
            ],
        }
        for f in findings
    ]


class Verdicts(Sequence[Verdict]):
    """One batch's verdicts, in event order.

    Most events of a feed have no findings and the same verdict but for their id, so those
    `Verdict` objects are made only when read (making them all cost ~6% of screening). The
    service reads just `decided`; `screener scan` reads every one.
    """

    __slots__ = ("_decided", "_ids", "_version")

    def __init__(self, ids: list[str], version: str, decided: dict[int, Verdict]):
        self._ids = ids
        self._version = version
        self._decided = decided

    @property
    def decided(self) -> dict[int, Verdict]:
        """Position → verdict, for the events with findings (or a truncated text)."""
        return self._decided

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> Verdict: ...
    @overload
    def __getitem__(self, i: slice) -> list[Verdict]: ...
    def __getitem__(self, i: int | slice) -> Verdict | list[Verdict]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self._ids)))]
        event_id = self._ids[i]  # IndexError as a list would raise it
        verdict = self._decided.get(i % len(self._ids))
        return verdict if verdict is not None else Verdict(event_id, self._version)

    def __iter__(self) -> Iterator[Verdict]:
        decided, version = self._decided, self._version
        for i, event_id in enumerate(self._ids):
            verdict = decided.get(i)
            yield verdict if verdict is not None else Verdict(event_id, version)
