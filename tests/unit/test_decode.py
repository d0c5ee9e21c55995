"""The hot-path decoder answers exactly what pydantic answers, and takes the fast path."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from screener.decode import MAX_BRACKETS, decode_event
from screener.events import (
    MAX_RECORD_BYTES,
    ChatEvent,
    Conversation,
    LaxChat,
    LaxConversation,
    LaxMedia,
    LaxMicroblog,
    LaxUser,
    LeanChat,
    LeanConversation,
    LeanMedia,
    LeanMicroblog,
    LeanUser,
    Media,
    MicroblogEvent,
    ParseError,
    User,
    parse_event,
    text_event,
)

CHAT = {"kind": "chat", "id": "c-1", "ts": 1714564800000, "user": {"id": "u1"}, "text": "hi"}
PAIRS: list[tuple[type[BaseModel], type[msgspec.Struct]]] = [
    (ChatEvent, LeanChat), (MicroblogEvent, LeanMicroblog), (User, LeanUser), (Media, LeanMedia),
    (Conversation, LeanConversation), (ChatEvent, LaxChat), (MicroblogEvent, LaxMicroblog),
    (User, LaxUser), (Media, LaxMedia), (Conversation, LaxConversation),
]  # fmt: skip


def data(x: Any) -> Any:
    """A value as comparable plain data: models and structs by field, leaves with their type
    (3 and 3.0 differ), errors by reason and detail."""
    if isinstance(x, ParseError):
        return ("error", x.reason, x.detail)
    if isinstance(x, BaseModel):
        return {name: data(getattr(x, name)) for name in type(x).model_fields}
    if isinstance(x, msgspec.Struct):
        out = {name: data(getattr(x, name)) for name in x.__struct_fields__}
        if hasattr(x, "kind"):
            out["kind"] = data(x.kind)
        return out
    if isinstance(x, list):
        return [data(v) for v in x]
    return (type(x).__name__, repr(x))


def same(raw: bytes) -> None:
    assert data(decode_event(raw)) == data(parse_event(raw)), raw[:200]


@pytest.mark.parametrize(("model", "lean"), PAIRS)
def test_lean_structs_have_the_models_fields_and_defaults(
    model: type[BaseModel], lean: type[msgspec.Struct]
) -> None:
    fields = {n: f for n, f in model.model_fields.items() if n != "kind"}
    assert lean.__struct_fields__ == tuple(fields)
    for lean_field in msgspec.structs.fields(lean):
        info = fields[lean_field.name]
        if info.is_required():
            assert lean_field.required, lean_field.name
            continue
        mine = lean_field.default
        if lean_field.default_factory is not msgspec.NODEFAULT:
            mine = lean_field.default_factory()
        theirs = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        assert mine == theirs, lean_field.name


def test_plain_events_take_the_fast_path_with_the_same_values() -> None:
    raw = orjson.dumps({**CHAT, "extra": {"a": [1]}, "user": {"id": "u1", "followers": 3}})
    event = decode_event(raw)
    assert type(event) is LaxChat and event.kind == "chat"  # unknown fields: skipped
    assert event.user.followers == 3 and event.text == "hi"
    same(raw)
    assert type(decode_event(orjson.dumps(CHAT))) is LeanChat
    micro = {
        "kind": "microblog", "id": "m", "ts": 5, "user": {"id": "u", "account_age_days": 3},
        "media": [{"type": "image", "pdq": "ab" * 32}], "topics": ["t"], "visits": 9,
    }  # fmt: skip
    event2 = decode_event(orjson.dumps(micro))
    assert type(event2) is LeanMicroblog and event2.media[0].pdq == "ab" * 32
    assert event2.user.account_age_days == 3.0 and type(event2.user.account_age_days) is float
    same(orjson.dumps(micro))


def test_time_strings_and_coercions_are_left_to_pydantic() -> None:
    for changed in (
        {"ts": "2024-05-01T12:00:00Z"},
        {"ts": 1.0},
        {"user": {"id": "u", "verified": "true"}},
    ):
        raw = orjson.dumps({**CHAT, **changed})
        assert isinstance(decode_event(raw), ChatEvent)
        same(raw)


def test_text_event_is_lean() -> None:
    event = text_event("hello", "7")
    assert type(event) is LeanChat and event.id == "7" and event.text == "hello"
    assert event.user.id == "-" and event.ts == 0 and event.media == []


def _with(extra: bytes) -> bytes:
    return b'{"kind":"chat","id":"a","ts":1,"user":{"id":"u"},' + extra + b"}"


EDGES = [
    b"{not json", b"\xff\xfe{}", b"[1, 2]", b'"text"', b"null", b"", b" ", b"{}",
    b"[" * 1000 + b"]" * 1000, b" " * (MAX_RECORD_BYTES + 1),
    _with(b'"text":"\\ud800"'), _with(b'"x":"\xff"'), _with(b'"text":"\xff"'),
    _with(b'"x":"\xc0\x80"'), _with(b'"x":\xff'), _with(b'"x":"\xed\xa0\x80"'),
    _with(b'"text":"a","text":"b"'), _with(b'"id":""'), _with(b'"user":{"id":"v"}'),
    _with(b'"kind":"microblog"'), _with(b'"x":NaN'), _with(b'"x":Infinity'),
    _with(b'"user":{"id":"u","account_age_days":1e400}'),
    _with(b'"user":{"id":"u","account_age_days":123456789012345678901234567890}'),
    _with(b'"user":{"id":"u","followers":123456789012345678901234567890}'),
    _with(b'"user":{"id":"u","followers":true}'), _with(b'"user":{"id":"u","verified":1}'),
    _with(b'"x":' + b"[" * 199 + b"]" * 199), _with(b'"x":' + b"[" * 200 + b"]" * 200),
    _with(b'"x":' + b"[" * 201 + b"]" * 201), _with(b'"x":' + b"[" * 300 + b"]" * 300),
    _with(b'"text":"' + b"[" * 300 + b'"'),
    b'\xef\xbb\xbf{"kind":"chat","id":"a","ts":1,"user":{"id":"u"}}',
    b'{"kind":"chat","id":"a","ts":1,"user":{"id":"u"}} x',
    b'{"kind":"chat","id":"a","ts":1,"user":{"id":"u"}}  \n\t\r',
    b'\x0c{"kind":"chat","id":"a","ts":1,"user":{"id":"u"}}',
    _with(b'"ts":99999999999999999999999'), _with(b'"ts":-0'), _with(b'"ts":1e3'),
    _with(b'"ts":true'), _with(b'"ts":"1714564800"'), _with(b'"ts":null'),
    _with(b'"media":[{"type":"image","pdq":"' + b"a" * 64 + b'\\n"}]'),
    _with(b'"media":[{"type":"image","pdq":"' + b"A" * 64 + b'"}]'),
    _with(b'"media":[{"type":"gif"}]'), _with(b'"media":{}'), _with(b'"media":null'),
    _with(b'"conversation":{"members":3}'), _with(b'"conversation":{"members":["a"]}'),
    _with(b'"conversation":{"members":true}'), _with(b'"conversation":{"members":1.5}'),
    _with(b'"conversation":{"type":"room"}'), _with(b'"conversation":null'),
    _with(b'"x":"\\u0000"'), _with(b'"x":"\x01"'), _with(b'"text":"\x1f"'),
    _with(b'"text":"\\ud83d\\ude00"'), _with(b'"x":1e999999'), _with(b'"x":-'), _with(b'"x":01'),
    _with(b'"x":[1,]'), _with(b'"x":"\\x"'), _with(b'"\\ud800":1'), _with(b'"te\\u0078t":"k"'),
    _with(b'"text":null'), _with(b'"text":5'), _with(b'"platform":5'), _with(b'"id":5'),
    b'{"kind":"chat","id":"a","ts":1,"user":{"id":"u"},}',
    b'{"kind":"chat","id":"a","ts":1,"user":{"id":""}}', b'{"kind":"chat","id":"a","ts":1}',
    b'{"id":"a","ts":1,"user":{"id":"u"}}', b'{"kind":5,"id":"a","ts":1,"user":{"id":"u"}}',
    b'{"kind":"microblog","id":"a","ts":1,"user":{"id":"u"},"topics":["a",1]}',
    b'{"kind":"microblog","id":"a","ts":1,"user":{"id":"u"},"visits":2.5}',
    b'{"kind":"microblog","id":"a","ts":1,"user":{"id":"u"},"conversation":{"id":"c"}}',
    b'{"x":[1],"kind":"chat","id":"a","ts":1,"user":{"id":"u"}}',  # unknown before the tag
    b'{"x":"\xff","kind":"chat","id":"a","ts":1,"user":{"id":"u"}}',
    b'{"x":1,"kind":"chat","id":"","ts":1,"user":{"id":"u"}}',
    b'{"user":{"x":1,"id":"u"},"kind":"microblog","id":"a","ts":1,"topics":[1]}',
]  # fmt: skip


@pytest.mark.parametrize("raw", EDGES, ids=range(len(EDGES)))
def test_edge_cases_answer_like_pydantic(raw: bytes) -> None:
    same(raw)


def test_invalid_input_reasons_are_pydantics_also_as_str() -> None:
    for raw in EDGES:
        if isinstance(parse_event(raw), ParseError):
            assert isinstance(decode_event(raw), ParseError)
    text = _with(b'"text":"ok"').decode() + "\udcff"
    assert data(decode_event(text)) == data(parse_event(text))
    assert data(decode_event('{"kind":"chat","id":"\udcff","ts":1,"user":{"id":"u"}}')) == data(
        parse_event('{"kind":"chat","id":"\udcff","ts":1,"user":{"id":"u"}}')
    )
    assert MAX_BRACKETS < 201  # pydantic's limit (see the 200/201 edge cases above)


# -- generated inputs: every field from a pool of right, wrong and coercible values ----------

ODD: list[Any] = [
    None, True, False, 0, -1, 2**63, 2**70, 1.0, 1.5, 1e300, "", "x", "1", "true",
    "2024-05-01T12:00:00Z", [], ["a"], [1], {}, {"id": "u"}, "ab" * 32, "image",
]  # fmt: skip
FIELD_VALUES: dict[str, list[Any]] = {
    "kind": ["chat", "microblog", "email", None],
    "id": ["e-1", "", 5, None, "\u00e9"],
    "ts": [1714564800000, 0, -5, 1.0, "2024-05-01T12:00:00Z", "1714564800", True, None],
    "user": [{"id": "u"}, {"id": ""}, {}, "u", {"id": "u", "followers": 3, "verified": True,
             "account_age_days": 2, "name": None, "x": [1]}, {"id": "u", "followers": "3"}],
    "text": ["hi", "", "微信 加我", None, 3, "\x00"],
    "media": [[], [{"type": "image"}], [{"type": "video", "url": "u", "sha256": "s"}],
              [{"type": "image", "pdq": "ab" * 32}], [{"type": "x"}], {}, [1]],
    "conversation": [{"id": "c", "type": "group", "members": 4}, {"members": ["a", "b"]},
                     {"type": "room"}, None, []],
    "repost_of": ["m-0", None, 1], "visits": [10, 2.0, "10", None],
    "topics": [["a"], [], [1], "a"], "platform": ["web", None, 2],
}  # fmt: skip


@st.composite
def records(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = {}
    for name, values in FIELD_VALUES.items():
        if draw(st.booleans()):
            body[name] = draw(st.sampled_from(values + ODD))
    if draw(st.booleans()):
        body[draw(st.sampled_from(["extra", "bench_t", "user2"]))] = draw(st.sampled_from(ODD))
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()  # stdlib: big ints too
    if draw(st.integers(0, 3)) == 0 and raw:  # a damaged byte somewhere
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


@settings(max_examples=400, deadline=None)
@given(records())
def test_generated_records_answer_like_pydantic(raw: bytes) -> None:
    same(raw)


def test_verdicts_over_a_generated_corpus_are_identical() -> None:
    from screener.engine import Engine
    from screener.rules import load_packs
    from screener.synthetic.generate import GenConfig, Generator

    raws = [g.value for g in itertools.islice(Generator(GenConfig(seed=3)), 6000)]
    lean = [decode_event(r) for r in raws]
    models = [parse_event(r) for r in raws]
    assert all(isinstance(e, LeanChat | LeanMicroblog) for e in lean)  # all on the fast path
    assert [data(e) for e in lean] == [data(e) for e in models]
    engine = Engine(load_packs([Path(__file__).resolve().parents[1] / "fixtures/behaviour/rules"]))
    fast = engine.screen(lean)  # type: ignore[arg-type]
    slow = engine.screen(models)  # type: ignore[arg-type]
    assert [v.to_json() for v in fast] == [v.to_json() for v in slow]
    assert sum(v.flagged for v in fast) > 100  # the corpus exercises the rules
