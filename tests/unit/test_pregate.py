"""Signals read only where a rule may use them (`screener.rules.pregate`) give the same
verdicts and the same stored state as signals read for every event."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from screener.engine import Engine
from screener.events import Event, parse_obj
from screener.rules.pack import RulePack, load_packs
from screener.rules.pregate import ReadGate
from screener.shipped import default_packs
from screener.state.behaviour import BehaviourState
from screener.text.views import BatchText

T0 = 1_724_515_200_000
EXTRA = """
escalation: {flagged: 2, window: 10m}
rules:
  - id: t.young_burst
    category: abuse
    score: 5
    condition: user.events(1m) > 3 and user.account_age_days < 50
  - id: t.quiet_contact
    category: abuse
    score: 5
    condition: detector(phone) and user.events(10m) < 4
  - id: t.long_unless_media
    category: abuse
    score: 2
    condition: len(text) > 12 and user.account_age_days < 20
    exceptions: ["user.media(1h) > 2"]
  - id: t.campaign
    category: abuse
    score: 5
    condition: text.copies(10m) > 3 and user.account_age_days < 200
"""
TEXTS = (
    "好的", "看看", "今天晚上一起去看电影吧我请客爆米花", "call me 13812345678",
    "兼职刷单日结三百元加微信abc12345详聊", "高端外围上门服务学生嫩模联系QQ3345678921速约",
    "V: abc12345", "出售黄色视频全套，加微信 abc12345", "这个价格很便宜的，要不要买一点回家",
)  # fmt: skip


def _events(rng: random.Random, n: int) -> list[Event]:
    out = []
    t = T0
    for k in range(n):
        t += rng.choice((0, 50, 200, 1000, 5000))
        late = rng.random()
        ts = t - (rng.randrange(200_000) if late < 0.05 else 3_600_000 if late < 0.06 else 0)
        user = f"u{rng.randrange(6)}"
        data: dict[str, Any] = {
            "kind": "chat", "id": f"e{k}", "ts": ts,
            "user": {"id": user, "account_age_days": [1, 10, 40, 150, 400][int(user[1:]) % 5]},
            "text": rng.choice(TEXTS),
            "conversation": {"id": f"g{rng.randrange(40)}", "type": "group"},
        }  # fmt: skip
        if rng.random() < 0.3:
            data["media"] = [{"type": "image"}] * rng.randint(1, 3)
        event = parse_obj(data)
        assert not hasattr(event, "reason"), event
        out.append(event)  # type: ignore[arg-type]
    return out


class _Everywhere:
    """Every signal read for every event (what the state did before the pre-gate)."""

    names: frozenset[str] = frozenset()

    def masks(self, *args: object) -> None:
        return None


def _run(engine: Engine, events: list[Event], batch: int) -> tuple[list[bytes], list[Any]]:
    state = BehaviourState(engine.pack.behaviour, capacity=64)
    lines: list[bytes] = []
    changes: list[Any] = []
    for lo in range(0, len(events), batch):
        verdicts, updates = engine.screen_stateful(events[lo : lo + batch], state)
        assert updates is not None
        state.apply(updates)
        lines += [v.to_json() for v in verdicts]
        changes.append(sorted(state.changes(), key=lambda kv: kv[0]))
    return lines, changes


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> RulePack:
    extra = tmp_path_factory.mktemp("pregate") / "extra.yaml"
    extra.write_text(EXTRA, encoding="utf-8")
    return load_packs([default_packs(), extra])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gated_reads_give_the_verdicts_and_state_of_reading_everywhere(
    pack: RulePack, seed: int
) -> None:
    rng = random.Random(seed)
    events = _events(rng, 1500)
    batch = rng.choice((1, 37, 250))
    gated = Engine(pack)
    ungated = Engine(pack)
    ungated._reads = _Everywhere()  # type: ignore[assignment]
    got, want = _run(gated, events, batch), _run(ungated, events, batch)
    assert got[0] == want[0]
    assert got[1] == want[1]
    fired = b"".join(got[0])
    for rule in (b"t.young_burst", b"t.quiet_contact", b"t.long_unless_media", b"t.campaign",
                 b"behaviour.escalation", b"solicitation.contact_only_new_account"):  # fmt: skip
        assert rule in fired, rule  # each kind of reader decides some verdicts here


def test_the_gate_skips_reads_where_no_rule_can_use_them(pack: RulePack) -> None:
    engine = Engine(pack)
    events = _events(random.Random(9), 400)
    evidence = engine._evidence(BatchText.build(pack.folding, [e.text for e in events]))
    masks = ReadGate(pack.rules).masks(events, evidence)
    assert set(masks) >= {"user.media@3600", "user.events@600", "text.copies@3600"}
    # `t.quiet_contact` reads user.events(10m) without a gate of its own: where it may fire
    # (a phone number), every signal is read
    phone = np.array([i in evidence.detectors and "phone" in evidence.detectors[i]
                      for i in range(len(events))])  # fmt: skip
    assert phone.any()
    for mask in masks.values():
        assert mask[phone].all()
    # an established account (400 days) with no evidence at all: nothing to read
    old = np.array([(e.user.account_age_days or 0) >= 400 for e in events])
    quiet = old & np.array([i not in evidence.messages() for i in range(len(events))])
    assert quiet.any()
    for mask in masks.values():
        assert not mask[quiet].any()
