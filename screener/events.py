"""Input events (contract: docs/contracts.md), parsed straight from record bytes.

Two forms of one event: the pydantic models (`ChatEvent`, `MicroblogEvent`) are the contract,
and explain invalid input; the lean structs (`LeanChat`, `LeanMicroblog`) carry the same
fields with the same values for the hot paths (`decode_event`, in `screener.decode`). Both
are an `Event` to the engine. Parsing never raises for bad input: `parse_event` returns a
`ParseError` whose `reason` is a short machine-readable class (it becomes the DLQ
`screener-error` header).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

MAX_RECORD_BYTES = 1_000_000
"""Records above this size are refused before JSON parsing (`too_large`)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class User(_Model):
    id: Annotated[str, StringConstraints(min_length=1)]
    name: str | None = None
    account_age_days: float | None = None
    followers: int | None = None
    verified: bool | None = None


class Media(_Model):
    type: Literal["image", "video", "file", "link"]
    url: str | None = None
    sha256: str | None = None
    pdq: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


class Conversation(_Model):
    id: str | None = None
    type: Literal["direct", "group"] | None = None
    members: int | list[str] | None = None


class _EventBase(_Model):
    id: Annotated[str, StringConstraints(min_length=1)]
    ts: datetime | int
    user: User
    text: str = ""
    media: list[Media] = Field(default_factory=list)
    platform: str | None = None


class ChatEvent(_EventBase):
    kind: Literal["chat"]
    conversation: Conversation | None = None


class MicroblogEvent(_EventBase):
    kind: Literal["microblog"]
    repost_of: str | None = None
    visits: int | None = None
    topics: list[str] = Field(default_factory=list)


Model = ChatEvent | MicroblogEvent
"""An event as validated by pydantic (what `parse_event` returns)."""

# -- the lean form --------------------------------------------------------------------------
# Field for field the models above (tests/unit/test_decode.py keeps them equal), as msgspec
# structs: decoded from JSON in one C pass at about the cost of `orjson.loads` (a pydantic
# model costs ~4x that, most of it building the two model objects), immutable, and untracked
# by the cyclic GC (`gc=False`: they hold only strings, numbers, lists and other structs), so a
# batch of them neither triggers collections nor costs one to free. Unknown fields are not
# kept (no rule can read them; the review item carries the original bytes): the `Lax*`
# mirrors below skip them. `ts` is an
# integer here: a time string is left to pydantic, whose parsing is the contract.

_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
_Pdq = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}\Z")]  # Python's `$` allows "\n"


class _Strict(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """Unknown fields refused: then msgspec has checked every byte (see screener.decode)."""


class LeanUser(_Strict, frozen=True, gc=False):
    id: _NonEmpty
    name: str | None = None
    account_age_days: float | None = None
    followers: int | None = None
    verified: bool | None = None


class LeanMedia(_Strict, frozen=True, gc=False):
    type: Literal["image", "video", "file", "link"]
    url: str | None = None
    sha256: str | None = None
    pdq: _Pdq | None = None


class LeanConversation(_Strict, frozen=True, gc=False):
    id: str | None = None
    type: Literal["direct", "group"] | None = None
    members: int | list[str] | None = None


class LeanChat(_Strict, frozen=True, gc=False, tag_field="kind", tag="chat"):
    kind: ClassVar[Literal["chat"]] = "chat"
    id: _NonEmpty
    ts: int
    user: LeanUser
    text: str = ""
    media: list[LeanMedia] = []
    platform: str | None = None
    conversation: LeanConversation | None = None


class LeanMicroblog(_Strict, frozen=True, gc=False, tag_field="kind", tag="microblog"):
    kind: ClassVar[Literal["microblog"]] = "microblog"
    id: _NonEmpty
    ts: int
    user: LeanUser
    text: str = ""
    media: list[LeanMedia] = []
    platform: str | None = None
    repost_of: str | None = None
    visits: int | None = None
    topics: list[str] = []


# The same structs for records with unknown fields, which these skip (subclasses: an
# `isinstance` of the above holds, fields and their order are the same).


class LaxUser(LeanUser, frozen=True, gc=False, forbid_unknown_fields=False):
    pass


class LaxMedia(LeanMedia, frozen=True, gc=False, forbid_unknown_fields=False):
    pass


class LaxConversation(LeanConversation, frozen=True, gc=False, forbid_unknown_fields=False):
    pass


class LaxChat(LeanChat, frozen=True, gc=False, forbid_unknown_fields=False):
    user: LaxUser
    media: list[LaxMedia] = []  # type: ignore[assignment]  # a subclass of the item type
    conversation: LaxConversation | None = None


class LaxMicroblog(LeanMicroblog, frozen=True, gc=False, forbid_unknown_fields=False):
    user: LaxUser
    media: list[LaxMedia] = []  # type: ignore[assignment]


Lean = LeanChat | LeanMicroblog
Event = Model | Lean
"""What the engine screens: either form (same fields, same values)."""

_EVENT: TypeAdapter[Model] = TypeAdapter(
    Annotated[ChatEvent | MicroblogEvent, Field(discriminator="kind")]
)
# The adapter's core validator, called directly: same validation, without the ~0.4 µs per call
# (of ~2.9) that `TypeAdapter.validate_json`'s Python wrapper adds; it runs once per record.
_validate_json: Callable[[bytes | str], Model] = _EVENT.validator.validate_json


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why a record is not an event: `reason` is a class, `detail` a one-line explanation."""

    reason: str
    detail: str


def _reason(exc: ValidationError) -> ParseError:
    """Classify a pydantic error: broken JSON, or valid JSON that is not an event."""
    first = exc.errors(include_url=False)[0]
    kind = first["type"]
    msg = str(first["msg"])
    if kind == "json_invalid":
        if "recursion" in msg:
            return ParseError("too_deep", msg)
        if "unicode" in msg.lower() or "utf-8" in msg.lower():
            return ParseError("bad_utf8", msg)
        return ParseError("bad_json", msg)
    if not first["loc"]:
        return ParseError("not_object" if kind == "dict_type" else "schema", msg)
    loc = ".".join(str(p) for p in first["loc"][1:])  # loc[0] is the `kind` tag
    return ParseError("schema", f"{loc or 'event'}: {msg}")


def parse_event(raw: bytes | str) -> Model | ParseError:
    """Parse one record value (UTF-8 JSON) into an event model, or say why not (the
    authority: `decode_event` gives the same answer, faster)."""
    if len(raw) > MAX_RECORD_BYTES:
        return ParseError("too_large", f"record of {len(raw)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        return _validate_json(raw)
    except ValidationError as exc:
        error = _reason(exc)
    if error.reason == "bad_json" and isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ParseError("bad_utf8", f"invalid UTF-8 at byte {exc.start}")
    return error


def parse_obj(data: object) -> Model | ParseError:
    """Validate an already-decoded JSON value as an event."""
    try:
        return _EVENT.validate_python(data)
    except ValidationError as exc:
        return _reason(exc)


_ANONYMOUS = LeanUser(id="-")


def text_event(text: str, event_id: str) -> LeanChat:
    """A minimal chat event around a plain message (`screener scan --text`, benchmarks): a
    lean struct, built in C (a pydantic `model_construct` cost more than screening the line)."""
    return LeanChat(id=event_id, ts=0, user=_ANONYMOUS, text=text)
