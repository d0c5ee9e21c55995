"""A random chat stream for the behaviour-state tests that compare two ways of screening it
(read pre-gate, compiled loops, one call over partitions): several users of different ages,
bursts, repeated adverts, late and very late events, images; and a pack adding rules over
windows, campaigns and escalation to the shipped ones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from screener.engine import Engine
from screener.events import Event, parse_obj
from screener.kafka import ConsumerRecord
from screener.pipeline.settings import Settings
from screener.pipeline.stateful import StatefulScreening
from screener.pipeline.transform import ScreeningProcessor
from screener.rules.pack import RulePack, load_packs
from screener.shipped import default_packs
from screener.state.partitioned import PartitionedState

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


def random_events(rng: random.Random, n: int, texts: Sequence[str] = TEXTS) -> list[Event]:
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
            "text": rng.choice(texts),
            "conversation": {"id": f"g{rng.randrange(40)}", "type": "group"},
        }  # fmt: skip
        if rng.random() < 0.3:
            data["media"] = [{"type": "image"}] * rng.randint(1, 3)
        event = parse_obj(data)
        assert not hasattr(event, "reason"), event
        out.append(event)  # type: ignore[arg-type]
    return out


def pack_with_extra(tmp_path_factory: pytest.TempPathFactory, name: str) -> RulePack:
    """The shipped packs plus `EXTRA`."""
    extra = tmp_path_factory.mktemp(name) / "extra.yaml"
    extra.write_text(EXTRA, encoding="utf-8")
    return load_packs([default_packs(), extra])


BURST = "volume.burst"


def burst_pack(tmp_path: Path, threshold: int = 5, window: str = "10m") -> RulePack:
    """One behaviour rule: a user posting more than `threshold` times within `window`."""
    path = tmp_path / f"p{threshold}{window}.yaml"
    path.write_text(
        f"""name: t
rules:
  - id: {BURST}
    category: spam
    score: 5
    action: review
    condition: user.events({window}) > {threshold}
""",
        encoding="utf-8",
    )
    return load_packs([path])


def stateful_processor(pack: RulePack, settings: Settings) -> ScreeningProcessor:
    """The service's processor with per-partition behaviour state (no broker)."""
    state = StatefulScreening(settings, PartitionedState(pack.behaviour, capacity=4096))
    return ScreeningProcessor(Engine(pack), settings, state)


def chat(partition: int, offset: int, user: str) -> ConsumerRecord[bytes, bytes]:
    """A chat event of `user` on input partition `partition` of topic `in`, one second per
    offset after T0 (what the burst-pack tests feed the processor)."""
    value = orjson.dumps(
        {"kind": "chat", "id": f"{user}-{offset}", "ts": T0 + offset * 1000,
         "user": {"id": user}, "text": "hello"}
    )  # fmt: skip
    return ConsumerRecord("in", partition, offset, 0, 0, user.encode(), value, None, 1, 1, [])


def flagged(batch: object) -> list[str]:
    return sorted(v.event_id for v in batch.verdicts if v.flagged)  # type: ignore[attr-defined]
