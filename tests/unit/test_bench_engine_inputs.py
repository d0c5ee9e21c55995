"""`screener bench engine` screens the events users' engines get: lean structs from
`screener.decode.decode_event` (the service's and `screener scan`'s decoder), not pydantic
models built in place, whose field reads cost several times more."""

from __future__ import annotations

import msgspec

from screener.events import ChatEvent, LeanChat, parse_event
from screener.measure.bench import _stream
from screener.synthetic import corpus


def test_bench_events_are_what_the_decoder_hands_the_engine() -> None:
    texts = corpus.messages(300)
    events = _stream(texts)
    assert len(events) == 300 and all(type(e) is LeanChat for e in events)
    for i, event in enumerate(events):
        raw = msgspec.json.encode(event)
        model = parse_event(raw)  # pydantic, the contract's authority, reads the same event
        assert isinstance(model, ChatEvent)
        assert (model.id, model.text, model.user.id) == (str(i), texts[i], event.user.id)
        assert model.conversation is not None and event.conversation is not None
        assert model.conversation.id == event.conversation.id
        assert [m.type for m in model.media] == (["image"] if i % 20 == 0 else [])
    assert len({e.user.id for e in events}) > 50  # many users, some of them repeat
    assert len({e.user.id for e in events}) < 300
