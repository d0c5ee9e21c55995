"""Generate the sample traffic in seeds/events/ (deterministic: same seed, same bytes).

    python -m screener.synthetic.samples            # rewrites seeds/events/{chat,microblog}.jsonl
    python -m screener.synthetic.samples --check    # also screens them and prints a summary

The sample mode of the synthetic package: accounts, threads and timing here; the templates
live with every other template in `screener.synthetic.texts`, the contact disguises in
`screener.synthetic.fake` (over `screener.synthetic.evasion`'s primitives). A unit test
regenerates the shipped samples byte for byte. Writing into seeds/events needs a source
checkout; anywhere else pass `--out DIR`.

The events follow the Event contract in DESIGN.md. Most are everyday chat and microblog posts
in Chinese and English (including innocent look-alikes of the listed terms: 快餐店300米外,
上门维修, 冷得瑟瑟发抖, 德州扑克的规则); a realistic minority are violations built from the
seed report's cases, written with the evasions offenders use:

- a WeChat ring that recruits women and organises prostitution (Foshan, 17 suspects) and one
  that organises deals and then blackmails the clients (Harbin) — group adverts with prices and
  contacts, direct-message threats;
- a microblog account that floods obscene images (Dongguan: 8,951 images, a million visits) —
  one young account posting image grids with tease words and very high visit counts;
- adverts with contact details for fake followers, SMS blasting, "part-time" scams, gambling
  and loans;
- abuse.

Contacts are fictitious and obfuscated the ways listed in DESIGN.md (加V信, 加 微 信, 薇❤信, ｖｘ,
Ｖ信, 威信, jia wei xin, 1⃣8⃣8⃣…, 壹捌捌…, 约-炮, 約炮, ⓠⓠ, zero-width characters).
`--check` screens them with the shipped packs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from screener.synthetic.fake import Faker
from screener.synthetic.generate import Generated
from screener.synthetic.texts import (
    CHAT_BENIGN_EN,
    CHAT_BENIGN_ZH,
    FLOOD_CAPTIONS,
    FOODS,
    MICROBLOG_BENIGN_EN,
    MICROBLOG_BENIGN_ZH,
    NAMES,
    PLACES,
    SAMPLE_TOPICS,
    TIMES,
    VIOLATION_WRITERS,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
"""seeds/ of the source checkout this module runs from (absent in an installed package)."""
DEFAULT_SEED = 20140825  # the Foshan arrests, 25 Aug
START = datetime(2024, 8, 25, 8, 0, 0, tzinfo=timezone(timedelta(hours=8)))

Event = dict[str, Any]


# --- events -----------------------------------------------------------------------------------


@dataclass
class Account:
    id: str
    name: str
    account_age_days: int
    followers: int
    verified: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "account_age_days": self.account_age_days,
            "followers": self.followers,
            "verified": self.verified,
        }


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fake = Faker(self.rng)
        self.clock = START
        handles = ["晴天", "小鹿", "Leo", "阿飞", "momo", "大白", "Kiki", "老张", "Sunny", "七七",
                   "Jack", "橙子", "豆豆", "Amy", "北北", "Tom"]  # fmt: skip
        self.accounts = [
            Account(
                f"u{1000 + i}",
                handles[i % len(handles)] + (str(i // len(handles)) if i >= len(handles) else ""),
                self.rng.randint(30, 3000),
                self.rng.randint(5, 5000),
                self.rng.random() < 0.08,
            )
            for i in range(60)
        ]
        # Offenders: fresh accounts with few followers (what the rules' exceptions assume).
        self.offenders = [
            Account(f"u9{i:03d}", f"user{self.rng.randint(10000, 99999)}",
                    self.rng.randint(0, 20), self.rng.randint(0, 30), False)
            for i in range(12)
        ]  # fmt: skip
        # The Dongguan-style image flooder: one young account, many image posts, huge reach.
        self.flooder = Account("u9900", "福利姬每日更", 45, 38000, False)
        self.groups = [
            (f"g{200 + i}", self.rng.sample(self.accounts, self.rng.randint(3, 12)))
            for i in range(8)
        ]
        self.ring_group = ("g666", self.offenders[:6])  # the WeChat ring's group

    # time moves forward a little with every event; a few use epoch milliseconds
    def ts(self) -> str | int:
        self.clock += timedelta(seconds=self.rng.randint(3, 240))
        if self.rng.random() < 0.15:
            return int(self.clock.timestamp() * 1000)
        return self.clock.isoformat()

    def fill(self, template: str) -> str:
        return template.format(
            food=self.fake.pick(FOODS), place=self.fake.pick(PLACES),
            time=self.fake.pick(TIMES), name=self.fake.pick(NAMES),
        )  # fmt: skip

    def image(self) -> dict[str, Any]:
        digest = self.fake.hexdigits(64)
        return {
            "type": "image",
            "url": f"https://img.example.com/{digest[:16]}.jpg",
            "sha256": hashlib.sha256(digest.encode()).hexdigest(),
            "pdq": self.fake.hexdigits(64),
        }

    def chat(self, n: int) -> tuple[list[Event], list[str]]:
        events: list[Event] = []
        labels: list[str] = []
        kinds = list(VIOLATION_WRITERS)
        for i in range(n):
            violation = self.rng.random() < 0.16
            if violation:
                label = kinds[i % len(kinds)] if self.rng.random() < 0.8 else self.fake.pick(kinds)
                text = VIOLATION_WRITERS[label](self.fake)
                if label in ("solicitation", "illicit_ads", "gambling") and self.rng.random() < 0.6:
                    conv_id, members = self.ring_group
                    user = self.rng.choice(members)
                    conv = {"id": conv_id, "type": "group", "members": [m.id for m in members]}
                else:
                    user = self.rng.choice(self.offenders)
                    victim = self.rng.choice(self.accounts)
                    conv = {"id": f"d-{user.id}-{victim.id}", "type": "direct",
                            "members": [user.id, victim.id]}  # fmt: skip
            else:
                label = "benign"
                pool = CHAT_BENIGN_EN if self.rng.random() < 0.2 else CHAT_BENIGN_ZH
                text = self.fill(self.fake.pick(pool))
                if self.rng.random() < 0.6:
                    conv_id, members = self.rng.choice(self.groups)
                    user = self.rng.choice(members)
                    conv = {"id": conv_id, "type": "group", "members": [m.id for m in members]}
                else:
                    user, other = self.rng.sample(self.accounts, 2)
                    conv = {"id": f"d-{user.id}-{other.id}", "type": "direct",
                            "members": [user.id, other.id]}  # fmt: skip
            media = [self.image()] if self.rng.random() < 0.08 else []
            events.append({
                "kind": "chat",
                "id": f"c-{i + 1:05d}",
                "ts": self.ts(),
                "user": user.as_json(),
                "text": text,
                "media": media,
                "platform": self.fake.pick(["wechat", "wechat", "wechat", "qq"]),
                "conversation": conv,
            })  # fmt: skip
            labels.append(label)
        return events, labels

    def microblog(self, n: int) -> tuple[list[Event], list[str]]:
        events: list[Event] = []
        labels: list[str] = []
        posted: list[str] = []
        for i in range(n):
            roll = self.rng.random()
            media: list[dict[str, Any]] = []
            repost_of = None
            topics = [self.fake.pick(SAMPLE_TOPICS)] if self.rng.random() < 0.5 else []
            if roll < 0.06:  # the image flood
                label, user = "porn", self.flooder
                text = self.fake.pick(FLOOD_CAPTIONS)
                media = [self.image() for _ in range(9)]
                visits = self.rng.randint(200_000, 1_200_000)
                topics = ["#福利#"]
            elif roll < 0.14:
                label = self.fake.pick(["solicitation", "porn", "illicit_ads", "gambling",
                                        "fraud", "abuse"])  # fmt: skip
                user = self.rng.choice(self.offenders)
                text = VIOLATION_WRITERS[label](self.fake)
                visits = self.rng.randint(50, 20_000)
            else:
                label = "benign"
                user = self.rng.choice(self.accounts)
                pool = MICROBLOG_BENIGN_EN if self.rng.random() < 0.15 else MICROBLOG_BENIGN_ZH
                text = self.fill(self.fake.pick(pool))
                if self.rng.random() < 0.35:
                    media = [self.image() for _ in range(self.rng.choice([1, 1, 2, 3, 4, 9]))]
                visits = self.rng.randint(0, 50_000)
                if posted and self.rng.random() < 0.12:
                    repost_of = self.rng.choice(posted)
            event_id = f"m-{i + 1:05d}"
            posted.append(event_id)
            event: Event = {
                "kind": "microblog",
                "id": event_id,
                "ts": self.ts(),
                "user": user.as_json(),
                "text": text,
                "media": media,
                "platform": "weibo",
                "visits": visits,
                "topics": topics,
            }
            if repost_of:
                event["repost_of"] = repost_of
            events.append(event)
            labels.append(label)
        return events, labels


def jsonl_line(event: Event) -> bytes:
    """The event as the shipped files write it (compact, UTF-8, no trailing newline)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def _ms(ts: str | int) -> int:
    return ts if isinstance(ts, int) else int(datetime.fromisoformat(ts).timestamp() * 1000)


def stream(seed: int = DEFAULT_SEED, chat: int = 240, microblog: int = 200) -> Iterator[Generated]:
    """The sample events as the generator's items: `screener generate --preset samples`.

    The chat events, then the microblog ones, each value the exact line of seeds/events
    (so `--seed 20140825 --no-labels` prints chat.jsonl followed by microblog.jsonl).
    """
    gen = Generator(seed)
    for events, labels in (gen.chat(chat), gen.microblog(microblog)):
        for event, label in zip(events, labels, strict=True):
            key = str(event["user"]["id"]).encode()
            value = jsonl_line(event)
            yield Generated(event["kind"], event["id"], key, value, _ms(event["ts"]), label)


def write_jsonl(path: Path, events: list[Event]) -> None:
    with path.open("wb") as fh:
        for event in events:
            fh.write(jsonl_line(event) + b"\n")


def check(events: list[Event], labels: list[str], name: str) -> None:
    """Screen the events with the default packs and compare with the intended labels."""
    from screener.engine import Engine
    from screener.events import parse_obj
    from screener.rules import load_packs
    from screener.shipped import default_packs

    engine = Engine(load_packs([default_packs()]))
    parsed = [parse_obj(e) for e in events]
    verdicts = engine.screen(parsed)  # type: ignore[arg-type]
    table: Counter[tuple[str, str]] = Counter()
    for label, verdict in zip(labels, verdicts, strict=True):
        table[(label, verdict.category or "-")] += 1
    print(f"{name}: {len(events)} events, intended label → verdict category")
    for (label, got), count in sorted(table.items()):
        mark = "" if (label == got) or (label == "benign" and got == "-") else "  ≠"
        print(f"  {label:>13} → {got:<13} {count:4d}{mark}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, help="directory (default: seeds/events)")
    parser.add_argument("--chat", type=int, default=240, help="number of chat events")
    parser.add_argument("--microblog", type=int, default=200, help="number of microblog events")
    parser.add_argument("--check", action="store_true", help="screen them and print a summary")
    args = parser.parse_args(argv)
    if args.out is None:
        if not (SEEDS / "events").is_dir():
            where = SEEDS / "events"
            print(f"writing the shipped samples needs a source checkout ({where} is not there); "
                  "pass --out DIR to write them elsewhere", file=sys.stderr)  # fmt: skip
            return 2
        args.out = SEEDS / "events"
    gen = Generator(args.seed)
    chat, chat_labels = gen.chat(args.chat)
    blog, blog_labels = gen.microblog(args.microblog)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "chat.jsonl", chat)
    write_jsonl(args.out / "microblog.jsonl", blog)
    print(f"wrote {len(chat)} chat and {len(blog)} microblog events to {args.out}")
    if args.check:
        check(chat, chat_labels, "chat.jsonl")
        check(blog, blog_labels, "microblog.jsonl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
