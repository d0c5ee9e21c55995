"""Batch views of texts no UTF-8 or UTF-32 can hold."""

from __future__ import annotations

from pathlib import Path

import orjson

from screener.engine import Engine
from screener.events import ChatEvent
from screener.rules import load_packs
from screener.text.folding import build_folding
from screener.text.views import BatchText


def test_lone_surrogates_are_read_as_replacement_characters_in_place() -> None:
    """A str may hold lone surrogates (bytes read with surrogateescape): the batch reads each
    as U+FFFD, one for one, so positions hold and verdicts quoting them can be written."""
    texts = ["ok", "\ud800加\udcffV信 qq 12345678", "\ud83d\ude00"]
    batch = BatchText.build(build_folding(), texts)
    assert batch.texts == ["ok", "\ufffd加\ufffdV信 qq 12345678", "\ufffd\ufffd"]
    assert [len(t) for t in batch.texts] == [len(t) for t in texts]
    engine = Engine(load_packs([Path(__file__).parent / "packs" / "basic.yaml"]))
    events = [
        ChatEvent.model_validate({"kind": "chat", "id": f"e{i}", "ts": 0, "user": {"id": "u"},
                              "text": t})
        for i, t in enumerate(texts)
    ]  # fmt: skip
    verdicts = engine.screen(events)
    assert len(verdicts) == 3
    assert all(orjson.loads(verdicts[i].to_json()) for i in range(3))
