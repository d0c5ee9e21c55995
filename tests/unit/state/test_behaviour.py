"""Behaviour signals through the engine: windows, campaigns, banks, escalation, `scan`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from screener.engine import ESCALATION_RULE, Engine
from screener.events import Event, parse_obj
from screener.rules.pack import PackError, RulePack, load_packs
from screener.scan import scan
from screener.state.behaviour import BehaviourState

T0 = 1_724_515_200_000
PACKS = Path(__file__).parents[3] / "screener" / "packs"


def _pack(tmp_path: Path, body: str) -> RulePack:
    (tmp_path / "p.yaml").write_text(body, encoding="utf-8")
    return load_packs([tmp_path])


def _ev(k: int, user: str = "u", secs: float = 0, **extra: Any) -> Event:
    data = {"kind": "chat", "id": f"e{k}", "ts": int(T0 + secs * 1000), "user": {"id": user}}
    event = parse_obj({**data, **extra})
    assert not hasattr(event, "reason"), event
    return event  # type: ignore[return-value]


def _fired(engine: Engine, state: BehaviourState, events: list[Event], rule: str) -> list[bool]:
    verdicts, updates = engine.screen_stateful(events, state)
    assert updates is not None
    state.apply(updates)
    return [any(f.rule == rule for f in v.findings) for v in verdicts]


VOLUME = """
rules:
  - id: burst
    category: abuse
    score: 5
    condition: user.events(10m) > 3
"""


def test_volume_rule_by_hand_across_batches_and_window_edge(tmp_path: Path) -> None:
    pack = _pack(tmp_path, VOLUME)
    engine, state = Engine(pack), BehaviourState(pack.behaviour, capacity=64)
    # 10m = 10 buckets of 60 s: events at 0, 10, 20 s, then 30 s (4th: trips), then 70 s
    assert _fired(engine, state, [_ev(0, secs=0), _ev(1, secs=10)], "burst") == [False, False]
    assert _fired(engine, state, [_ev(2, secs=20), _ev(3, secs=30)], "burst") == [False, True]
    assert _fired(engine, state, [_ev(4, secs=70), _ev(5, "other", secs=70)], "burst") == [
        True,
        False,
    ]
    # at 600 s (bucket 10) bucket 0 (0..59 s: four events) has left the window: 1 + itself
    assert _fired(engine, state, [_ev(6, secs=600)], "burst") == [False]


def test_late_event_is_screened_but_not_counted(tmp_path: Path) -> None:
    pack = _pack(tmp_path, VOLUME)
    engine, state = Engine(pack), BehaviourState(pack.behaviour, capacity=64)
    _fired(engine, state, [_ev(k, secs=3600 + k) for k in range(3)], "burst")
    # 50 minutes older than the newest: beyond the 2-minute grace of a 10m window
    assert _fired(engine, state, [_ev(9, secs=600)], "burst") == [False]
    assert _fired(engine, state, [_ev(10, secs=3604)], "burst") == [True]  # 3 + itself = 4


def test_screening_does_not_write_state(tmp_path: Path) -> None:
    pack = _pack(tmp_path, VOLUME)
    engine, state = Engine(pack), BehaviourState(pack.behaviour, capacity=64)
    events = [_ev(k, secs=k) for k in range(4)]
    first, _ = engine.screen_stateful(events, state)
    again, updates = engine.screen_stateful(events, state)  # nothing applied: same verdicts
    assert [v.flagged for v in first] == [v.flagged for v in again] == [False] * 3 + [True]
    assert updates is not None


def test_rules_without_signals_pay_nothing_for_state(tmp_path: Path) -> None:
    pack = _pack(
        tmp_path, "rules:\n  - {id: r, category: abuse, score: 5, condition: len(text) > 3}\n"
    )
    assert not pack.behaviour


def test_bad_window_is_refused_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"p.yaml:\d+: .*window"):
        _pack(tmp_path, VOLUME.replace("10m", "3s"))


ESCALATE = """
escalation: {flagged: 3, window: 1h}
rules:
  - {id: word, category: abuse, score: 5, action: review, condition: len(text) > 5}
"""


def test_third_flagged_message_in_an_hour_escalates(tmp_path: Path) -> None:
    pack = _pack(tmp_path, ESCALATE)
    engine, state = Engine(pack), BehaviourState(pack.behaviour, capacity=64)
    bad = {"text": "long enough"}
    first, updates = engine.screen_stateful([_ev(0, secs=0, **bad), _ev(1, secs=1)], state)
    assert updates is not None
    state.apply(updates)
    assert [v.action for v in first] == ["review", "allow"]
    batch = [_ev(2, secs=5, **bad), _ev(3, secs=6, **bad), _ev(4, "x", secs=7, **bad)]
    verdicts, updates = engine.screen_stateful(batch, state)
    assert [v.action for v in verdicts] == ["review", "block", "review"]
    assert verdicts[1].findings[-1].rule == ESCALATION_RULE
    assert updates is not None
    state.apply(updates)
    # two hours later the window is empty again
    later, _ = engine.screen_stateful([_ev(5, secs=7200, **bad)], state)
    assert later[0].action == "review"


def test_shipped_pack_flood_from_new_account_vs_spread_over_established() -> None:
    """The issue's check: 300 image posts from one new account are flagged once the volume
    rule trips; 300 single posts of the same text and media by 300 established accounts are
    not."""
    engine = Engine(load_packs([PACKS]))

    def lines(user: str | None, age: int) -> io.BytesIO:
        out = b"".join(
            orjson.dumps({
                "kind": "microblog", "id": f"p{k}", "ts": T0 + k * 5000,
                "user": {"id": user or f"acct{k}", "account_age_days": age},
                "text": "今天的照片", "media": [{"type": "image"}],
            }) + b"\n"
            for k in range(300)
        )  # fmt: skip
        return io.BytesIO(out)

    flood = list(scan(engine, [lines("newbie", 1)]))
    flagged = [i for i, v in enumerate(flood) if v.flagged]
    assert flagged == list(range(100, 300))  # the 101st image within the hour trips the rule
    assert {f.rule for f in flood[100].findings} == {"porn.image_flood_window"}
    assert flood[102].action == "block"  # the third flagged in an hour: escalated
    spread = list(scan(engine, [lines(None, 800)]))
    assert not any(v.flagged for v in spread)


def test_scan_verdicts_do_not_depend_on_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from screener import scan as scanmod

    engine = Engine(load_packs([PACKS]))
    data = b"".join(
        orjson.dumps({"kind": "chat", "id": f"c{k}", "ts": T0 + k * 700,
                      "user": {"id": f"u{k % 7}", "account_age_days": 2},
                      "conversation": {"id": f"g{k % 41}", "type": "group"},
                      "text": f"兼职刷单日结三百元加微信abc{k % 3}2345详聊"}) + b"\n"
        for k in range(400)
    )  # fmt: skip
    whole = [v.to_dict() for v in scan(engine, [io.BytesIO(data)])]
    monkeypatch.setattr(scanmod, "BATCH_LINES", 37)
    pieces = [v.to_dict() for v in scan(engine, [io.BytesIO(data)])]
    assert whole == pieces
    assert any(v["flagged"] for v in whole)


def test_known_bad_image_by_pdq_near_match() -> None:
    pack = load_packs([PACKS])
    bank = pack.behaviour.banks["known_bad"]
    near = list(bank.pdq_hex[0])
    near[0] = "0" if near[0] != "0" else "1"  # up to 4 bits off
    engine, state = Engine(pack), BehaviourState(pack.behaviour, capacity=64)
    media = [{"type": "image", "pdq": "".join(near)}]
    other = [{"type": "image", "pdq": "0" * 64}]
    verdicts, _ = engine.screen_stateful([_ev(0, media=media), _ev(1, media=other)], state)
    assert verdicts[0].action == "block" and verdicts[0].category == "porn"
    assert not verdicts[1].flagged
