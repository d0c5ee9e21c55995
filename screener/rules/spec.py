"""The rule-pack file format as pydantic models (docs/rules.md is the reader's version).

Unknown keys and wrong types are refused here; names and cross-references are checked by the
compiler, which knows the whole pack set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from screener.match.regexes import RegexView
from screener.verdict import Action

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
MAX_SCORE = 1e9
"""Scores add up per category; anything near float's range is a mistake, not a weight."""
Mode = Literal["enforce", "shadow"]
"""`shadow`: the rule is evaluated and its hits recorded (audit verdicts, metrics), but it never
changes an action or a review item: how a new rule is watched on live traffic before it acts."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


MAX_TERM_CHARS = 200
"""Characters in one term (the longest shipped one has 12)."""
TermText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TERM_CHARS)]


class TermSpec(_Spec):
    term: TermText
    tags: list[Name] = Field(default_factory=list)
    word: bool | None = None
    homophone: bool | None = None
    pinyin: bool | None = None
    repeat: bool | None = None


class LexiconSpec(_Spec):
    terms: list[TermText | TermSpec] = Field(default_factory=list)
    file: NonEmpty | None = None
    allow: list[NonEmpty] = Field(default_factory=list)
    tags: list[Name] = Field(default_factory=list)
    word: bool | None = None
    homophone: bool = False
    pinyin: bool = False
    repeat: bool = False
    description: str | None = None


class RegexSpec(_Spec):
    pattern: NonEmpty
    view: RegexView = "folded"
    description: str | None = None


Example = NonEmpty | dict[str, Any]


class ExamplesSpec(_Spec):
    match: list[Example] = Field(default_factory=list)
    no_match: list[Example] = Field(default_factory=list)


class RuleSpec(_Spec):
    id: RuleId
    category: Category
    condition: NonEmpty
    score: float = Field(default=0.0, ge=0, le=MAX_SCORE, strict=False, allow_inf_nan=False)
    action: Action | None = None
    exceptions: list[NonEmpty] = Field(default_factory=list)
    tags: list[Name] = Field(default_factory=list)
    enabled: bool = True
    mode: Mode | None = None
    """default: the file's `mode`."""
    description: str | None = None
    examples: ExamplesSpec | None = None


class Thresholds(_Spec):
    review: float = Field(default=5.0, strict=False, allow_inf_nan=False)
    block: float = Field(default=15.0, strict=False, allow_inf_nan=False)


class BankSpec(_Spec):
    """A known-bad media hash bank file (`kind:hex` lines; see `screener.banks.bank`)."""

    file: NonEmpty
    distance: int = Field(default=31, ge=0, le=64)
    description: str | None = None


class EscalationSpec(_Spec):
    """A user's `flagged`-th flagged message within `window` gets the next action up."""

    flagged: int = Field(ge=2, le=1000)
    window: Annotated[str, StringConstraints(pattern=r"^\d{1,5}[smhd]$")] = "1h"


class PackSpec(_Spec):
    """One YAML file."""

    name: str | None = None
    description: str | None = None
    mode: Mode = "enforce"
    """the default for this file's rules (a rule's own `mode` wins)."""
    lexicons: dict[Name, LexiconSpec] = Field(default_factory=dict)
    regexes: dict[Name, NonEmpty | RegexSpec] = Field(default_factory=dict)
    macros: dict[Name, NonEmpty] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    allow: list[NonEmpty] = Field(default_factory=list)
    thresholds: Thresholds | None = None
    banks: dict[Name, BankSpec] = Field(default_factory=dict)
    escalation: EscalationSpec | None = None
    model: NonEmpty | None = None
    """directory of the learned model rules read as `model.<category>` (relative to the file)."""
