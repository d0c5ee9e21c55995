from __future__ import annotations

import orjson
import pytest

from screener.events import (
    MAX_RECORD_BYTES,
    ChatEvent,
    MicroblogEvent,
    ParseError,
    parse_event,
)

CHAT = {"kind": "chat", "id": "c-1", "ts": "2024-05-01T12:00:00Z", "user": {"id": "u1"}}


def raw(obj: object) -> bytes:
    return orjson.dumps(obj)


def test_chat_event_with_defaults_and_unknown_fields_kept() -> None:
    event = parse_event(raw({**CHAT, "extra_field": {"a": 1}}))
    assert isinstance(event, ChatEvent)
    assert event.text == "" and event.media == []
    assert event.model_extra == {"extra_field": {"a": 1}}


def test_microblog_event_full() -> None:
    event = parse_event(
        raw(
            {
                "kind": "microblog", "id": "m-1", "ts": 1714564800000,
                "user": {"id": "u2", "account_age_days": 3, "followers": 10, "verified": False},
                "text": "hi", "media": [{"type": "image", "pdq": "ab" * 32}],
                "visits": 1_000_000, "topics": ["t"], "repost_of": "m-0",
            }
        )
    )  # fmt: skip
    assert isinstance(event, MicroblogEvent)
    assert event.visits == 1_000_000 and event.media[0].type == "image"
    assert event.user.account_age_days == 3


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe{}", "bad_utf8"),
        (b"[1, 2]", "not_object"),
        (b'"text"', "not_object"),
        (raw({**CHAT, "kind": "email"}), "schema"),
        (raw({k: v for k, v in CHAT.items() if k != "user"}), "schema"),
        (raw({**CHAT, "user": {"id": ""}}), "schema"),
        (raw({**CHAT, "media": [{"type": "image", "pdq": "xyz"}]}), "schema"),
        (raw({**CHAT, "ts": "yesterday"}), "schema"),
        (b"[" * 1000 + b"]" * 1000, "too_deep"),
        (b" " * (MAX_RECORD_BYTES + 1), "too_large"),
    ],
)
def test_bad_records_give_a_reason(record: bytes, reason: str) -> None:
    result = parse_event(record)
    assert isinstance(result, ParseError)
    assert result.reason == reason
    assert result.detail


def test_schema_error_names_the_field() -> None:
    result = parse_event(raw({**CHAT, "user": {"name": "x"}}))
    assert isinstance(result, ParseError)
    assert result.detail.startswith("user.id")
