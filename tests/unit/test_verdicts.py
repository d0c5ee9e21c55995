"""A batch's verdicts: clean ones made on demand, decided ones kept; the worker's isolation."""

from __future__ import annotations

import orjson
import pytest

from screener.engine import Engine
from screener.kafka import ConsumerRecord
from screener.pipeline.settings import Settings
from screener.pipeline.transform import screen_records

TEXTS = ["good morning", "约炮加V信", "你好", "包夜 vx", "吃饭了吗"]


def test_clean_verdicts_read_like_a_list(engine: Engine) -> None:
    verdicts = engine.screen_texts(TEXTS)
    assert len(verdicts) == 5
    assert sorted(verdicts.decided) == [1, 3]  # only the flagged ones were built
    listed = list(verdicts)
    assert [v.event_id for v in listed] == ["0", "1", "2", "3", "4"]
    assert [v.flagged for v in listed] == [False, True, False, True, False]
    assert verdicts[1] is verdicts.decided[1] and verdicts[-2] is verdicts.decided[3]
    assert verdicts[-1].event_id == "4" and verdicts[-1].action == "allow"
    assert verdicts[2].to_dict() == {
        "event_id": "2", "flagged": False, "action": "allow", "category": None,
        "categories": [], "score": 0.0, "rules_version": engine.pack.version, "findings": [],
    }  # fmt: skip
    assert [v.event_id for v in verdicts[1:4]] == ["1", "2", "3"]
    with pytest.raises(IndexError):
        verdicts[5]


def _record(offset: int, text: str) -> ConsumerRecord[bytes, bytes]:
    value = orjson.dumps({"kind": "chat", "id": f"e{offset}", "ts": 1, "user": {"id": "u"},
                          "text": text})  # fmt: skip
    return ConsumerRecord("in", 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


def test_a_record_that_breaks_the_engine_goes_alone_to_the_dlq(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(input_topics=["in"])
    records = [_record(i, text) for i, text in enumerate(TEXTS)]
    screen = engine.screen

    def fragile(events):  # type: ignore[no-untyped-def]
        if any(e.text == "你好" for e in events):
            raise RuntimeError("boom")
        return screen(events)

    monkeypatch.setattr(engine, "screen", fragile)
    screened = screen_records(engine, records, settings)
    dead = [o for o in screened.outgoing if o.topic == settings.dlq_topic]
    review = [o for o in screened.outgoing if o.topic == settings.review_topic]
    assert [o.value for o in dead] == [records[2].value]
    assert dict(dead[0].headers)["screener-error"].startswith(b"engine_error: RuntimeError")
    assert sorted(o.key for o in review) == [b"e1", b"e3"]
    assert [v.event_id for v in screened.verdicts] == ["e0", "e1", "e3", "e4"]
    assert screened.owners == [records[0], records[1], records[3], records[4]]
    assert screened.errors == 1
    assert screened.report.dlq_reasons == {"engine_error": 1}  # the reason, as data
    assert screened.report.consumed == {("in", "chat"): 5}  # an event the engine failed on
