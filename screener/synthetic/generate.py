"""`screener generate`: deterministic synthetic chat and microblog traffic with true labels.

Same `seed` and options → the same events, byte for byte. The model:

- users and conversations are drawn from Zipf distributions (a few accounts and groups carry
  most of the traffic); violations come from a separate, smaller pool of offender accounts
  (new, few followers);
- text is Chinese, English or mixed with realistic lengths (`screener.synthetic.texts`);
- a share `violation_rate` of events violates, split over categories by `mix`, each disguised
  with the evasions the matcher must resist (`screener.synthetic.evasion`) with probability
  `evasion_rate`;
- media carry PDQ-style hashes (64 hex): random for benign images, near-duplicates (≤ 16 bits
  flipped) of a "known bad" bank for pornographic ones;
- bursts: now and then one spammer account floods microblog posts of bad images (the
  Dongguan case: 8,951 images from one account).

Each event has its label (`benign` or a category) for the `screener-label` header, and the
evasions used for `screener-evasions`.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from screener.synthetic import evasion
from screener.synthetic import texts as traffic
from screener.synthetic.fake import Faker

LABEL_HEADER = "screener-label"
EVASIONS_HEADER = "screener-evasions"
BENIGN = "benign"
TEXTS = ("stream", "corpus", "samples")
"""Text styles: the stream's templates, the benchmark corpus's lines, the sample events'."""
START_MS = 1_724_515_200_000  # 2024-08-25T00:00:00+08:00, the seed report's month


@dataclass(frozen=True)
class GenConfig:
    seed: int = 1
    users: int = 100_000
    conversations: int = 50_000
    offenders: int = 500
    zipf_s: float = 1.1
    microblog_share: float = 0.3
    violation_rate: float = 0.03
    mix: dict[str, float] = field(default_factory=lambda: dict(traffic.DEFAULT_MIX))
    evasion_rate: float = 0.7
    chat_media_rate: float = 0.05
    microblog_media_rate: float = 0.25
    bad_bank_size: int = 256
    burst_every: int = 100_000
    """Average events between spam bursts (0: no bursts)."""
    burst_size: int = 2_000
    events_per_second: float = 1_000.0
    """Simulated arrival rate, for event and record timestamps."""
    start_ms: int = START_MS
    id_prefix: str = "g"
    platform_chat: str = "wechat"
    platform_microblog: str = "weibo"
    texts: str = "stream"
    """Which writers fill the text (`TEXTS`); the population and draws are the same engine."""

    def __post_init__(self) -> None:
        if self.texts not in TEXTS:
            raise ValueError(f"unknown text style {self.texts!r} (one of {', '.join(TEXTS)})")
        unknown = set(self.mix) - set(traffic.CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories in mix: {sorted(unknown)}")
        if not 0 <= self.violation_rate <= 1 or not 0 <= self.evasion_rate <= 1:
            raise ValueError("violation_rate and evasion_rate are shares in [0, 1]")
        if self.violation_rate and not any(v > 0 for v in self.mix.values()):
            raise ValueError("mix gives every category a zero weight")


@dataclass(frozen=True, slots=True)
class Generated:
    kind: str
    event_id: str
    key: bytes
    value: bytes
    ts: int
    label: str
    evasions: tuple[str, ...] = ()

    def headers(self) -> list[tuple[str, bytes]]:
        out = [(LABEL_HEADER, self.label.encode())]
        if self.evasions:
            out.append((EVASIONS_HEADER, ",".join(self.evasions).encode()))
        return out


class Zipf:
    """Ranks 0..n-1 with P(rank k) ∝ 1/(k+1)^s, drawn with one uniform number."""

    def __init__(self, n: int, s: float):
        self.cum = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n)))

    def draw(self, rng: random.Random) -> int:
        return bisect.bisect_left(self.cum, rng.random() * self.cum[-1])


def _hex256(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


class Generator:
    """Iterate `Generated` events; the whole stream is a function of the config."""

    def __init__(self, config: GenConfig):
        self.config = c = config
        self.rng = random.Random(c.seed)
        self.fake = Faker(self.rng)
        self._users = Zipf(c.users, c.zipf_s)
        self._convs = Zipf(c.conversations, c.zipf_s)
        self._offenders = Zipf(max(1, c.offenders), c.zipf_s)
        bank_rng = random.Random(f"{c.seed}:bank")
        self.bad_bank = [bank_rng.getrandbits(256) for _ in range(c.bad_bank_size)]
        cats = [k for k, v in c.mix.items() if v > 0]
        self._cats = cats
        self._cat_cum = list(itertools.accumulate(c.mix[k] for k in cats))
        self._user_cache: dict[str, dict[str, Any]] = {}
        self._conv_cache: dict[int, dict[str, Any]] = {}
        self._clock = float(c.start_ms)
        self._burst_left = 0
        self._burst_user = ""
        self._bursts = 0
        self._captions = traffic.FLOOD_CAPTIONS if c.texts == "samples" else traffic.IMAGE_CAPTIONS

    # -- entities -----------------------------------------------------------------------------

    def _user(self, uid: str, offender: bool) -> dict[str, Any]:
        user = self._user_cache.get(uid)
        if user is None:
            r = random.Random(f"{self.config.seed}:user:{uid}")
            rank = int(uid.split("-")[-1])
            user = {
                "id": uid,
                "name": r.choice(("阿飞", "北北", "大白", "momo", "七七", "Tom", "Sunny", "晴天",
                                  "老张", "Jack", "小鱼", "Lily")) + str(r.randint(1, 99)),
                "account_age_days": r.randint(0, 30) if offender else r.randint(30, 4000),
                "followers": r.randint(0, 50) if offender
                else int(r.paretovariate(1.2) * 100 * (1 + 1000 / (rank + 1))),
                "verified": (not offender) and r.random() < 0.02,
            }  # fmt: skip
            if len(self._user_cache) < 1_000_000:
                self._user_cache[uid] = user
        return user

    def _conversation(self, cid: int) -> dict[str, Any]:
        conv = self._conv_cache.get(cid)
        if conv is None:
            r = random.Random(f"{self.config.seed}:conv:{cid}")
            if r.random() < 0.7:
                members = [f"u-{self._users.draw(r)}" for _ in range(2)]
                conv = {"id": f"d-{cid}", "type": "direct", "members": members}
            else:
                size = max(3, min(500, round(r.lognormvariate(0, 1.0) * 12)))
                shown = [f"u-{self._users.draw(r)}" for _ in range(min(size, 20))]
                conv = {"id": f"g-{cid}", "type": "group", "members": shown if size <= 20 else size}
            if len(self._conv_cache) < 1_000_000:
                self._conv_cache[cid] = conv
        return conv

    def _media(self, r: random.Random, count: int, bad: bool) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            if bad and self.bad_bank:
                pdq = r.choice(self.bad_bank)
                for _ in range(r.randint(0, 16)):  # a re-encoded copy: PDQ Hamming distance ≤ 16
                    pdq ^= 1 << r.randrange(256)
                pdq_hex = f"{pdq:064x}"
            else:
                pdq_hex = _hex256(r)
            sha = _hex256(r)
            out.append({"type": "image", "url": f"https://img.example.com/{sha[:16]}.jpg",
                        "sha256": sha, "pdq": pdq_hex})  # fmt: skip
        return out

    # -- events -------------------------------------------------------------------------------

    def _category(self, r: random.Random) -> str:
        x = r.random() * self._cat_cum[-1]
        return self._cats[bisect.bisect_right(self._cat_cum, x)]

    def _benign(self, r: random.Random, kind: str) -> str:
        if self.config.texts == "corpus":
            return traffic.corpus_benign(r)
        if self.config.texts == "samples":
            return traffic.sample_benign(self.fake, kind)
        return traffic.benign_text(r, kind)

    def _violation(self, r: random.Random, category: str) -> tuple[str, tuple[str, ...]]:
        if self.config.texts == "corpus":
            return traffic.corpus_violation(r), ()
        if self.config.texts == "samples":  # the sample writers disguise contacts themselves
            return traffic.VIOLATION_WRITERS[category](self.fake), ()
        template = traffic.fill(r.choice(traffic.VIOLATIONS[category]), r)
        if r.random() < self.config.evasion_rate:
            text, used = evasion.apply(template, r)
            return text, tuple(used)
        return evasion.plain(template), ()

    def __iter__(self) -> Iterator[Generated]:
        for index in itertools.count():
            yield self.event(index)

    def texts(self) -> Iterator[str]:
        """Text-only view: each message's violating roll and text, without the entities.

        The benchmark corpus is this (`screener.synthetic.corpus.messages`): hundreds of
        thousands of lines where users, media and JSON would only cost time.
        """
        r, rate = self.rng, self.config.violation_rate
        while True:
            if r.random() < rate:
                yield self._violation(r, self._category(r))[0]
            else:
                yield self._benign(r, "chat")

    def event(self, index: int) -> Generated:
        """The next event (call with consecutive indexes; the stream is sequential)."""
        c, r = self.config, self.rng
        self._clock += r.expovariate(c.events_per_second) * 1000.0
        ts = int(self._clock)
        event_id = f"{c.id_prefix}-{index:09d}"
        if self._burst_left == 0 and c.burst_every and r.random() < 1.0 / c.burst_every:
            self._bursts += 1
            self._burst_left = c.burst_size
            self._burst_user = f"spam-{self._bursts}"
        if self._burst_left and r.random() < 0.5:
            self._burst_left -= 1
            return self._burst_post(r, event_id, ts)
        violating = r.random() < c.violation_rate
        kind = "microblog" if r.random() < c.microblog_share else "chat"
        label: str = BENIGN
        used: tuple[str, ...] = ()
        if violating:
            label = self._category(r)
            text, used = self._violation(r, label)
            user = self._user(f"o-{self._offenders.draw(r)}", offender=True)
        else:
            text = self._benign(r, kind)
            user = None
        event: dict[str, Any] = {"kind": kind, "id": event_id, "ts": ts}
        if kind == "chat":
            conv = self._conversation(self._convs.draw(r))
            if user is None:
                members = conv["members"]
                uid = r.choice(members) if isinstance(members, list) else f"u-{self._users.draw(r)}"
                user = self._user(uid, offender=False)
            event["user"] = user
            event["text"] = text
            media_rate = c.chat_media_rate
            event["media"] = []
            event["platform"] = c.platform_chat
            event["conversation"] = conv
        else:
            if user is None:
                user = self._user(f"u-{self._users.draw(r)}", offender=False)
            event["user"] = user
            event["text"] = text
            media_rate = c.microblog_media_rate
            event["media"] = []
            event["platform"] = c.platform_microblog
            event["visits"] = int(r.paretovariate(1.5) * 50 * (1 + user["followers"] / 100))
            event["topics"] = [r.choice(traffic.TOPICS)] if r.random() < 0.3 else []
        bad_media = label == "porn"
        if (bad_media and r.random() < 0.5) or r.random() < media_rate:
            event["media"] = self._media(r, r.randint(1, 9 if kind == "microblog" else 2),
                                         bad_media)  # fmt: skip
        return Generated(kind, event_id, user["id"].encode(), orjson.dumps(event), ts, label, used)

    def _burst_post(self, r: random.Random, event_id: str, ts: int) -> Generated:
        user = self._user(f"o-{self._burst_user}-0", offender=True)
        user = {**user, "id": self._burst_user}
        event = {
            "kind": "microblog", "id": event_id, "ts": ts, "user": user,
            "text": r.choice(self._captions),
            "media": self._media(r, r.randint(1, 9), True),
            "platform": self.config.platform_microblog,
            "visits": int(r.paretovariate(1.2) * 2000), "topics": [],
        }  # fmt: skip
        return Generated("microblog", event_id, user["id"].encode(), orjson.dumps(event), ts,
                         "porn", ("image_burst",))  # fmt: skip


def generate(config: GenConfig, count: int) -> Iterator[Generated]:
    return itertools.islice(Generator(config), count)


def parse_mix(text: str) -> dict[str, float]:
    """`porn=3,solicitation=4` → weights (categories not named get 0)."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in traffic.CATEGORIES:
            raise ValueError(f"unknown category {name!r}; known: {', '.join(traffic.CATEGORIES)}")
        mix[name] = float(weight) if weight else 1.0
    return mix


# -- outputs --------------------------------------------------------------------------------------


def jsonl_line(item: Generated, label_field: str | None) -> bytes:
    """The event as one JSON line; with `label_field`, the label is added under that name."""
    if label_field is None:
        return item.value + b"\n"
    return item.value[:-1] + b',"' + label_field.encode() + b'":"' + item.label.encode() + b'"}\n'


def write_jsonl(items: Iterator[Generated], out: BinaryIO, label_field: str | None) -> int:
    n = 0
    for item in items:
        out.write(jsonl_line(item, label_field))
        n += 1
    return n


def topic_for(item: Generated, chat_topic: str, microblog_topic: str) -> str:
    return chat_topic if item.kind == "chat" else microblog_topic


def write_recording(
    items: Iterator[Generated], path: Path, *, chat_topic: str, microblog_topic: str,
    partitions: int, labels: bool, meta: dict[str, Any],
) -> int:  # fmt: skip
    """A recording as if the events had been produced keyed by user id to `partitions`."""
    from screener.kafka import murmur2
    from screener.traffic.recording import Recorded, RecordingWriter

    offsets: dict[tuple[str, int], int] = {}
    n = 0
    with RecordingWriter.create(path, meta) as writer:
        for item in items:
            topic = topic_for(item, chat_topic, microblog_topic)
            partition = (int(murmur2(item.key)) & 0x7FFFFFFF) % partitions
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            headers = tuple(item.headers()) if labels else ()
            writer.write(Recorded(topic, partition, offset, item.ts, item.key, item.value, headers))
            n += 1
    return n


async def produce(
    items: Iterator[Generated], bootstrap_servers: str | None, *, chat_topic: str,
    microblog_topic: str, labels: bool, rate: float | None, event_time: bool,
    on_tick: Callable[[int], None] | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Send to Kafka keyed by user id (stamped now, or with event time); (sent, errors)."""
    from screener.kafka import make_producer
    from screener.traffic.pacing import Outbound, Pace, Pacer, pump
    from screener.traffic.replay import producer_options
    from screener.traffic.sender import BatchSender

    def outbound() -> Iterator[Outbound]:
        for item in items:
            headers = item.headers() if labels else []
            topic = topic_for(item, chat_topic, microblog_topic)
            yield topic, item.key, item.value, headers, item.ts, None

    producer = make_producer(producer_options(bootstrap_servers))
    await producer.start()
    try:
        sender = BatchSender(producer)
        await pump(outbound(), sender, Pacer(Pace(rate=rate)), rewrite_timestamps=not event_time,
                   on_tick=on_tick)  # fmt: skip
        await sender.drain()
    finally:
        await producer.stop()
    return sender.stats.acked, sender.stats.appended - sender.stats.acked
