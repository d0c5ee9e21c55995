"""Lexicon matching, allow-lists, word boundaries and contact detectors, through the engine."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.engine import Engine
from screener.match.detectors import NAMES, detect
from screener.match.lexicon import Hit, Term, _outermost
from screener.rules import RulePack
from screener.text.views import BatchText


def rules_fired(engine: Engine, text: str) -> set[str]:
    return {f.rule for f in engine.screen_texts([text])[0].findings}


@pytest.mark.parametrize(
    "text",
    [
        "约炮加V信",
        "約 炮 加 薇 ❤ 信",
        "约-炮 加 威信",
        "约约约炮 加微​信",
        "ＹＵＥ约炮 ｖｘ",
        "包夜 vx",
    ],
)
def test_disguised_offers_fire(engine: Engine, text: str) -> None:
    assert "solicit.contact_offer" in rules_fired(engine, text)


@pytest.mark.parametrize(
    "text", ["周末约朋友打球加微信", "微信支付 约炮", "约 ... 炮", "vxlan 约炮", "我爱吃鸡蛋和小鸡"]
)
def test_innocent_look_alikes_do_not_fire(engine: Engine, text: str) -> None:
    fired = rules_fired(engine, text)
    assert "solicit.contact_offer" not in fired
    assert "chicken" not in fired


def test_allow_list_only_covers_what_it_contains(engine: Engine) -> None:
    assert "chicken" in rules_fired(engine, "鸡 我爱吃鸡蛋")


@pytest.mark.parametrize(
    ("text", "hit"),
    [("the rapist", True), ("therapist", False), ("r a p i s t", True), ("r.a.p.i.s.t", True),
     ("rapists", False), ("ra pist", False), ("Ｒａｐｉｓｔ!", True)],
)  # fmt: skip
def test_latin_terms_match_whole_words_only(engine: Engine, text: str, hit: bool) -> None:
    verdict = engine.screen_texts([text])[0]
    terms = {m.term for f in verdict.findings for m in f.matches}
    assert ("rapist" in terms) is hit


def detections(pack: RulePack, text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in detect(BatchText.build(pack.folding, ["前文", text, "后文"]), NAMES):
        assert d.message == 1
        out.setdefault(d.detector, []).append(d.value)
    return out


@pytest.mark.parametrize(
    "text",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "壹叁捌壹贰叁肆伍陆柒捌",
     "①③⑧①②③④⑤⑥⑦⑧", "1⃣3⃣8⃣1⃣2⃣3⃣4⃣5⃣6⃣7⃣8⃣", "１３８１２３４５６７８", "幺三八 一二三四 五六七八"],
)  # fmt: skip
def test_phone_numbers_in_disguise(basic_pack: RulePack, text: str) -> None:
    assert detections(basic_pack, f"电话{text}。")["phone"] == ["13812345678"]


@pytest.mark.parametrize(
    "text", ["订单号 1381234567890", "价格 12345678901234", "call 12812345678", "2024年10月1日"]
)
def test_not_phone_numbers(basic_pack: RulePack, text: str) -> None:
    assert "phone" not in detections(basic_pack, text)


@pytest.mark.parametrize(
    ("text", "detector", "value"),
    [
        ("0" * 249 + " 电话 13812345678", "phone", "13812345678"),  # 260 digits in all
        ("加qq 12345678", "qq", "12345678"), ("ⓠⓠ：８８６６５５４４", "qq", "88665544"),
        ("扣扣号 3 3 4 4 5 5 6", "qq", "3344556"),
        ("加微 abc_123", "wechat_id", "abc_123"), ("wechat: jenny_love", "wechat_id", "jenny_love"),
        ("V信：sexy520", "wechat_id", "sexy520"), ("ｖｘ:Lily8888", "wechat_id", "lily8888"),
        ("看 www.abc.com 吧", "url", "www.abc.com"), ("https://t.cn/A6x", "url", "https://t.cn/a6x"),
        ("看 http://www.abc.com/x 吧", "url", "http://www.abc.com/x"),
        ("看 www.a.cnhttp://b.cn 吧", "url", "www.a.cnhttp://b.cn"),
        ("访问 win88.vip/reg", "url", "win88.vip/reg"), ("mail a.b@c.com", "email", "a.b@c.com"),
        ("邮箱 ＡＢ＠ｑｑ．ｃｏｍ", "email", "ab@qq.com"),
    ],
)  # fmt: skip
def test_contact_detectors(basic_pack: RulePack, text: str, detector: str, value: str) -> None:
    assert detections(basic_pack, text).get(detector) == [value]


@pytest.mark.parametrize(
    "text", ["review this please", "lowx abcdef1", "vivid memories", "qq", "维权 abc 12", "你好"]
)
def test_contact_detectors_stay_quiet(basic_pack: RulePack, text: str) -> None:
    assert detections(basic_pack, text) == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=8), st.integers(0, 7))
def test_match_offsets_point_at_the_evidence(engine: Engine, texts: list[str], k: int) -> None:
    texts = [*texts]
    texts[k % len(texts)] += " 约炮 加 薇❤信 13812345678 www.x.com"
    for text, verdict in zip(texts, engine.screen_texts(texts), strict=True):
        for finding in verdict.findings:
            for m in finding.matches:
                assert text[m.start : m.end] == m.text
                assert 0 <= m.start < m.end <= len(text)


@pytest.mark.parametrize(
    "text",
    ["加 微 信：tian_36242", "薇❤信 tian_36242", "jia wei xin：tian_36242", "微信号: tian_36242"],
)
def test_wechat_ids_behind_spaced_or_spelled_keywords(basic_pack: RulePack, text: str) -> None:
    assert detections(basic_pack, text).get("wechat_id") == ["tian_36242"]


SPACING_PACK = """\
lexicons:
  phrases: {terms: [dm me, 女狗, 上门, 上门服务, {term: 加微信, pinyin: true}]}
rules:
  - {id: phrase, category: abuse, score: 1, condition: hit(phrases)}
  - {id: two, category: abuse, score: 1, condition: distinct(phrases) >= 2}
"""


@pytest.fixture(scope="module")
def spacing_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    from screener.rules import load_packs

    path = tmp_path_factory.mktemp("packs") / "spacing.yaml"
    path.write_text(SPACING_PACK, encoding="utf-8")
    return Engine(load_packs([path]))


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("dm me now", {"dm me"}), ("pls dmme", {"dm me"}), ("d m m e", {"dm me"}),
        ("d mme", set()), ("admme", set()),
        ("女 狗", {"女狗"}), ("女❤狗", {"女狗"}), ("女（狗", set()), ("她是女，狗", set()),
        ("上门服务", {"上门服务"}), ("上门 上门服务", {"上门", "上门服务"}),
        ("jia wei xin", {"加微信"}), ("JiaWeiXin 123", {"加微信"}), ("jia-wei-xin", {"加微信"}),
        ("jiaweixinhua", set()), ("jia weixin", {"加微信"}), ("ji aweixin", set()),
        ("加 微 信", {"加微信"}),
    ],
)  # fmt: skip
def test_phrases_punctuation_and_nested_terms(
    spacing_engine: Engine, text: str, terms: set[str]
) -> None:
    verdict = spacing_engine.screen_texts([text])[0]
    found = {m.term for f in verdict.findings for m in f.matches}
    assert found == terms
    assert ("two" in {f.rule for f in verdict.findings}) is (len(terms) >= 2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 5), st.integers(0, 2)), max_size=12))
def test_nested_hits_of_a_lexicon_count_once(spans: list[tuple[int, int, int]]) -> None:
    """A hit is dropped exactly when a kept hit of the same lexicon contains it."""
    hits = [Hit(0, a, a + n, f"t{a}-{n}", Term("x", lex, (), False, False, "compact"))
            for a, n, lex in spans]  # fmt: skip
    kept = _outermost(hits)
    naive = []
    for h in sorted(hits, key=lambda h: (h.start, -h.end)):
        lexicon = h.source.lexicon  # type: ignore[union-attr]
        if not any(k.start <= h.start and h.end <= k.end and k.source.lexicon == lexicon
                   for k in naive):  # type: ignore[union-attr]  # fmt: skip
            naive.append(h)
    assert [(h.start, h.end) for h in kept] == [(h.start, h.end) for h in naive]
    assert list(map(id, kept)) == list(map(id, naive))  # ties keep their order too


def test_batched_gap_and_punctuation_checks_match_the_per_hit_ones() -> None:
    """`_spread` and `_any_in` (one gather for all loose hits) give what `_gaps` and a `take`
    per hit give, on every view layer, for spans of two or more characters."""
    import numpy as np

    from screener.match.lexicon import _any_in, _gaps, _spread
    from screener.synthetic import corpus
    from screener.text.folding import build_folding

    folding = build_folding()
    batch = BatchText.build(folding, corpus.messages(300, seed=3))
    rng = np.random.default_rng(5)
    for layer in ("compact", "repeat", "sound_repeat"):
        size = len(batch.codes(layer))
        start = rng.integers(0, size - 8, 200)
        end = start + rng.integers(2, 8, 200)
        spans = zip(start.tolist(), end.tolist(), strict=True)
        want = [_gaps(batch, layer, a, b) for a, b in spans]
        assert _spread(batch, layer, start, end) == want
        assert any(g != [1] * len(g) for g in want)  # letters apart are among them
    codes, hard = batch.w_codes, folding.hard
    start = rng.integers(0, len(codes) - 8, 500)
    end = start + rng.integers(1, 8, 500)
    want_hard = [bool(hard.take(codes[a:b]).any()) for a, b in zip(start, end, strict=True)]
    assert _any_in(hard, codes, start, end) == want_hard
    assert 0 < sum(want_hard) < len(want_hard)
    none = start[:0]
    assert _spread(batch, "compact", none, none) == _any_in(hard, codes, none, none) == []
