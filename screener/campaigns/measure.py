"""MinHash+LSH against SimHash on generated near-duplicate adverts (`screener bench campaigns`).

Campaigns: adverts each sent `copies` times with small edits (characters swapped, digits of
the contact changed, words appended, separators and emoji inserted); mixed into unrelated
generated chat. For each method, the estimate a rule would read — the most frequent of a
message's band keys in the window — should be near `copies` for campaign messages and near 1
for the rest.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from screener.campaigns import signatures
from screener.synthetic import corpus
from screener.text.folding import Folding
from screener.text.views import BatchText

ADVERTS = (
    "兼职刷单日结三百元，加微信abc12345详聊，名额有限",
    "高端外围上门服务，学生嫩模，联系QQ 3345678921 速约",
    "澳门线上娱乐城首充送百分之五十，官网 www.bet365-cn.com 注册即送",
    "出售微博粉丝点赞评论，一元一千个，加V信 fans8888 下单",
    "低价代开发票各类增值税发票，电话13812345678王经理",
)
_NOISE = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
    "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
    "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变"
    "条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
    "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
    "几九区强放决西被干做必战先回则任取据处理府研"
)


def _edit(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 2)):  # swap a character (a digit stays a digit)
        i = rng.randrange(len(chars))
        chars[i] = str(rng.randrange(10)) if chars[i].isdigit() else rng.choice(_NOISE)
    for _ in range(rng.randint(0, 3)):  # separators and emoji: the compact view drops them
        chars.insert(rng.randrange(len(chars)), rng.choice(" .-*❤️☆"))
    tail = "".join(rng.choice(_NOISE) for _ in range(rng.randint(0, 4)))
    return "".join(chars) + tail


@dataclass(frozen=True)
class MethodResult:
    name: str
    campaign_median: float
    campaign_p10: float
    unrelated_p99: float
    unrelated_max: int
    us_per_message: float


def unrelated_texts(path: Path | None, n: int, seed: int) -> list[str]:
    """Real Weibo comments (COLD, a TSV whose last column is text) if given, else generated."""
    if path is not None and path.is_file():
        rows = path.read_text(encoding="utf-8").splitlines()[1:]
        return [r.rsplit("\t", 1)[-1] for r in rows[:n]]
    return corpus.messages(n, seed=seed, violating_share=0.05)


def measure(folding: Folding, copies: int = 100, unrelated: list[str] | None = None,
            seed: int = 3) -> list[MethodResult]:  # fmt: skip
    rng = random.Random(seed)
    texts = [_edit(rng, ad) for ad in ADVERTS for _ in range(copies)]
    campaign = len(texts)
    texts += unrelated if unrelated is not None else unrelated_texts(None, 20_000, seed)
    batch = BatchText.build(folding, texts)
    codes = batch.codes("compact")
    starts = batch.message_starts("compact")
    ends = batch.message_ends("compact")
    methods: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
        "minhash-lsh": signatures.minhash_bands,
        "simhash": signatures.simhash_bands,
    }
    out = []
    for name, fn in methods.items():
        t0 = time.perf_counter()
        h, owner = signatures.shingles(codes, starts, ends)
        keys, has = fn(h, owner, len(texts))
        per_msg = (time.perf_counter() - t0) / len(texts) * 1e6
        counts = Counter(keys[has].ravel().tolist())
        est = np.array(
            [max(counts[k] for k in row) if ok else 0 for row, ok in
             zip(keys.tolist(), has.tolist(), strict=True)]
        )  # fmt: skip
        camp, rest = est[:campaign], est[campaign:][has[campaign:]]
        out.append(MethodResult(
            name, float(np.median(camp)), float(np.percentile(camp, 10)),
            float(np.percentile(rest, 99)), int(rest.max()), per_msg,
        ))  # fmt: skip
    return out
