"""The one event decoder for hot paths (the pipeline's consume step, `screener scan`).

`decode_event(raw)` answers exactly what `events.parse_event(raw)` answers — the same event
field for field, or the same `ParseError` reason and detail — at about the cost of
`orjson.loads` instead of ~4x it (profiled: pydantic's `validate_json` was ~35% of a batch's
transform, building the two model objects most of it). How:

1. msgspec decodes the bytes straight into the lean structs (`events.LeanChat`, ...), which
   refuse unknown fields. When that succeeds, msgspec has read every byte under the
   contract's types, which for JSON input are as strict as pydantic's or stricter (strict ints
   and bools, exact literals, UTF-8 checked in strings, nesting bounded by the schema): what
   it accepts, pydantic accepts with the same values.
2. A record with unknown fields (allowed by the contract, ignored by rules) is decoded again
   into the `Lax*` mirrors, which skip them. Skipped bytes are checked for JSON syntax only,
   so the two checks pydantic makes on them are made first: valid UTF-8 (a C-level
   `isascii`, else a decode), and nesting under pydantic's recursion limit (bounded by the
   number of brackets: a C-level count). Records without unknown fields never pay for these
   (profiled: they cost as much as the decoding itself).
3. Anything else — broken JSON, a schema error, a time string for `ts`, a value pydantic
   would coerce (`"true"` for a bool, `1.0` for an int) — goes to `parse_event`: pydantic
   stays the one authority on what is valid and the one explanation of what is not, so DLQ
   reasons never depend on which path ran.

tests/unit/test_decode.py checks the equivalence on crafted edge cases and on generated
inputs, and that verdicts over a generated corpus are byte-identical either way.
"""

from __future__ import annotations

import msgspec

from screener.events import (
    MAX_RECORD_BYTES,
    Event,
    LaxChat,
    LaxMicroblog,
    Lean,
    ParseError,
    parse_event,
)

_decode = msgspec.json.Decoder(Lean).decode
_decode_lax = msgspec.json.Decoder(LaxChat | LaxMicroblog).decode
_UNKNOWN = "Object contains unknown field"

MAX_BRACKETS = 200
"""Records with more `[`/`{` than this go to pydantic: it refuses nesting deeper than 201
(`too_deep`), and nesting can be no deeper than the bracket count."""


def decode_event(raw: bytes | str) -> Event | ParseError:
    """One record value (UTF-8 JSON) as an event, or why it is not one (see the module)."""
    if len(raw) <= MAX_RECORD_BYTES:  # larger: parse_event says `too_large`
        try:
            return _decode(raw)
        except msgspec.ValidationError as exc:
            if str(exc).startswith(_UNKNOWN) and _checked(raw):
                try:
                    return _decode_lax(raw)
                except msgspec.DecodeError:
                    pass
        except (msgspec.DecodeError, UnicodeEncodeError):  # a str with lone surrogates
            pass
    return parse_event(raw)


def _checked(raw: bytes | str) -> bool:
    """Whether bytes msgspec may skip unchecked are ones pydantic accepts too (step 2)."""
    if isinstance(raw, bytes):
        # a record no longer than the limit cannot hold more brackets: most events are shorter
        if len(raw) > MAX_BRACKETS and raw.count(b"[") + raw.count(b"{") > MAX_BRACKETS:
            return False
        if raw.isascii():
            return True
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    if len(raw) > MAX_BRACKETS and raw.count("[") + raw.count("{") > MAX_BRACKETS:
        return False
    try:
        raw.encode("utf-8")  # a str from surrogateescape may hold lone surrogates
    except UnicodeEncodeError:
        return False
    return True
