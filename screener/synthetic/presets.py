"""Behaviour presets for `screener generate --preset`: episodes that only state can see.

Background traffic from the ordinary generator, with one episode of the chosen kind started
every `every` events and its events interleaved one for one with the background (so they are
spread in event time as a real burst is). Labels are true labels: every event of an episode
carries the episode's category; the background keeps its own.

- `image-flood`: a one-day-old account posting 150 images (the Dongguan case);
- `advert-groups`: one new account pushing an advert with small edits into 60 groups;
- `campaign-ring`: 10 new accounts sending the same advert (edited) 40 times between them;
- `contact-only`: a new account posting nothing but a contact id, 8 times;
- `behaviour`: all four in turn;
- `samples`: not a weave but the sample-events preset of the same generator (`samples.config`),
  seeded by the generator's seed (20140825 gives seeds/events); the other options are unused.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import orjson

from screener.campaigns.measure import ADVERTS, _edit
from screener.synthetic import samples
from screener.synthetic.generate import Generated, Generator

PRESETS = ("image-flood", "advert-groups", "campaign-ring", "contact-only", "behaviour")
SAMPLES = "samples"
EVERY = 2_000


def _episode(kind: str, n: int, rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, event without id/ts) for each event of episode `n` of `kind`."""
    if kind == "image-flood":
        user = {"id": f"o-flood-{n}", "account_age_days": 1, "followers": 3}
        for _ in range(150):
            media = [{"type": "image", "pdq": f"{rng.getrandbits(256):064x}"}]
            yield "porn", {"kind": "microblog", "user": user, "text": "", "media": media}
    elif kind == "advert-groups":
        user = {"id": f"o-ads-{n}", "account_age_days": 3, "followers": 0}
        ad = ADVERTS[n % len(ADVERTS)]
        for g in range(60):
            conv = {"id": f"ads-group-{n}-{g}", "type": "group", "members": 300}
            yield "illicit_ads", {"kind": "chat", "user": user, "text": _edit(rng, ad),
                                  "conversation": conv}  # fmt: skip
    elif kind == "campaign-ring":
        ad = ADVERTS[(n + 1) % len(ADVERTS)]
        for k in range(40):
            user = {"id": f"o-ring-{n}-{k % 10}", "account_age_days": 2, "followers": 1}
            conv = {"id": f"ring-group-{n}-{k % 7}", "type": "group", "members": 200}
            yield "illicit_ads", {"kind": "chat", "user": user, "text": _edit(rng, ad),
                                  "conversation": conv}  # fmt: skip
    else:  # contact-only
        user = {"id": f"o-contact-{n}", "account_age_days": 1, "followers": 0}
        contact = f"V: {rng.choice('abcdefghjk')}{rng.randrange(10**6, 10**7)}"
        for _ in range(8):
            yield "solicitation", {"kind": "chat", "user": user, "text": contact,
                                   "conversation": {"id": f"dm-{n}", "type": "direct"}}  # fmt: skip


def preset_stream(generator: Generator, preset: str) -> Iterator[Generated]:
    """The background stream with `preset` episodes woven in (endless, deterministic)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (one of {', '.join(PRESETS)})")
    kinds = PRESETS[:4] if preset == "behaviour" else (preset,)
    rng = random.Random(f"{generator.config.seed}:preset:{preset}")
    prefix = generator.config.id_prefix
    episode: Iterator[tuple[str, dict[str, Any]]] = iter(())
    n = 0
    for k, item in enumerate(generator):
        yield item
        if k % EVERY == EVERY // 2:
            episode = _episode(kinds[n % len(kinds)], n, rng)
            n += 1
        step = next(episode, None)
        if step is not None:
            label, body = step
            event = {**body, "id": f"{prefix}-b{k}", "ts": item.ts}
            key = str(body["user"]["id"]).encode()
            yield Generated(body["kind"], event["id"], key, orjson.dumps(event), item.ts, label)


def take(generator: Generator, preset: str, count: int) -> Iterator[Generated]:
    if preset == SAMPLES:
        return samples.stream(generator.config.seed, count)
    return itertools.islice(preset_stream(generator, preset), count)
