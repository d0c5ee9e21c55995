"""Generate the sample traffic in seeds/events/ (deterministic: same seed, same bytes).

    python -m screener.synthetic.samples            # rewrites seeds/events/{chat,microblog}.jsonl
    python -m screener.synthetic.samples --check    # also screens them and prints a summary

The samples are a preset of the one traffic generator (`screener.synthetic.generate.Generator`
with `config(seed)`: a small population, a high violation rate and the sample text writers of
`screener.synthetic.texts`), the same engine as `screener generate` and the benchmark corpus;
`screener generate --preset samples` prints them. A unit test regenerates the shipped samples
byte for byte. Writing into seeds/events needs a source checkout; anywhere else pass `--out DIR`.

The events follow the Event contract in DESIGN.md. Most are everyday chat and microblog posts
in Chinese and English (including innocent look-alikes of the listed terms: 快餐店300米外,
上门维修, 冷得瑟瑟发抖, 德州扑克的规则); a realistic minority are violations built from the
seed report's cases, written with the evasions offenders use:

- a WeChat ring that recruits women and organises prostitution (Foshan, 17 suspects) and one
  that organises deals and then blackmails the clients (Harbin) — adverts with prices and
  contacts, direct-message threats, all from a small pool of new offender accounts;
- a microblog account that floods obscene images (Dongguan: 8,951 images, a million visits) —
  the generator's image bursts from one spam account;
- adverts with contact details for fake followers, SMS blasting, "part-time" scams, gambling
  and loans;
- abuse.

Contacts are fictitious and obfuscated the ways listed in DESIGN.md (加V信, 加 微 信, 薇❤信, ｖｘ,
Ｖ信, 威信, jia wei xin, 1⃣8⃣8⃣…, 壹捌捌…, 约-炮, 約炮, ⓠⓠ, zero-width characters).
`--check` screens them with the shipped packs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from screener.synthetic.generate import GenConfig, Generated, Generator
from screener.synthetic.texts import VIOLATION_WRITERS

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
"""seeds/ of the source checkout this module runs from (absent in an installed package)."""
DEFAULT_SEED = 20140825  # the Foshan arrests, 25 Aug
COUNT = 440

Event = dict[str, Any]


def config(seed: int = DEFAULT_SEED) -> GenConfig:
    """The samples preset: few accounts and groups, one message in six violating, one burst.

    Small and dense on purpose: a reader of seeds/events sees every category, repeated
    offenders and an image flood within a few hundred lines.
    """
    return GenConfig(
        seed=seed, users=60, conversations=8, offenders=12, zipf_s=0.8, microblog_share=0.38,
        violation_rate=0.16, mix={k: 1.0 for k in VIOLATION_WRITERS}, evasion_rate=0.0,
        chat_media_rate=0.08, microblog_media_rate=0.35, bad_bank_size=16, burst_every=150,
        burst_size=12, events_per_second=1 / 120, id_prefix="s", texts="samples",
    )  # fmt: skip


def stream(seed: int = DEFAULT_SEED, count: int = COUNT) -> Iterator[Generated]:
    """The first `count` events of the samples preset, chat first, then microblog.

    (The order of the shipped files: `--seed 20140825 --no-labels` prints chat.jsonl followed
    by microblog.jsonl.)
    """
    items = list(itertools.islice(Generator(config(seed)), count))
    yield from (item for item in items if item.kind == "chat")
    yield from (item for item in items if item.kind == "microblog")


def write_jsonl(path: Path, items: list[Generated]) -> None:
    with path.open("wb") as fh:
        for item in items:
            fh.write(item.value + b"\n")


def check(items: list[Generated], name: str) -> None:
    """Screen the events with the default packs and compare with the intended labels."""
    from screener.engine import Engine
    from screener.events import parse_obj
    from screener.rules import load_packs
    from screener.shipped import default_packs

    engine = Engine(load_packs([default_packs()]))
    parsed = [parse_obj(json.loads(item.value)) for item in items]
    verdicts = engine.screen(parsed)  # type: ignore[arg-type]
    table: Counter[tuple[str, str]] = Counter()
    for item, verdict in zip(items, verdicts, strict=True):
        table[(item.label, verdict.category or "-")] += 1
    print(f"{name}: {len(items)} events, intended label → verdict category")
    for (label, got), count in sorted(table.items()):
        mark = "" if (label == got) or (label == "benign" and got == "-") else "  ≠"
        print(f"  {label:>13} → {got:<13} {count:4d}{mark}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, help="directory (default: seeds/events)")
    parser.add_argument("--count", type=int, default=COUNT, help="events (chat and microblog)")
    parser.add_argument("--check", action="store_true", help="screen them and print a summary")
    args = parser.parse_args(argv)
    if args.out is None:
        if not (SEEDS / "events").is_dir():
            where = SEEDS / "events"
            print(f"writing the shipped samples needs a source checkout ({where} is not there); "
                  "pass --out DIR to write them elsewhere", file=sys.stderr)  # fmt: skip
            return 2
        args.out = SEEDS / "events"
    items = list(stream(args.seed, args.count))
    chat = [item for item in items if item.kind == "chat"]
    blog = [item for item in items if item.kind == "microblog"]
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "chat.jsonl", chat)
    write_jsonl(args.out / "microblog.jsonl", blog)
    print(f"wrote {len(chat)} chat and {len(blog)} microblog events to {args.out}")
    if args.check:
        check(chat, "chat.jsonl")
        check(blog, "microblog.jsonl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
