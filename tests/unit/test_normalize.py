"""Folding and views: what offenders write reads as what they mean, offsets stay exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.text.folding import Folding
from screener.text.views import BatchText, normalize


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("ｖｘ", "vx"), ("ⓥⓧ", "vx"), ("𝐯𝐱", "vx"), ("🅥🅧", "vx"), ("VX", "vx"),
        ("vх", "vx"),  # Cyrillic х
        ("約炮", "约炮"), ("電話", "电话"),
        ("1⃣8⃣8⃣", "188"), ("❶❷⓫", "1211"), ("①⑩", "110"), ("ＱＱ", "qq"),
        ("微\u200b信", "微信"), ("微 ❤ 信", "微信"), ("约-炮", "约炮"), ("加 V 信", "加v信"),
        ("café", "cafe"), ("Straße", "strasse"),
    ],
)  # fmt: skip
def test_compact_view_reads_through_evasions(folding: Folding, written: str, read: str) -> None:
    assert normalize(folding, written).text == read


def test_digits_view_reads_chinese_numerals(folding: Folding) -> None:
    assert normalize(folding, "壹捌捌 幺三九", "digits").text == "188 139"


def test_sound_view_merges_homophones(folding: Folding) -> None:
    sounds = {normalize(folding, w, "sound").text for w in ("微信", "威信", "薇信", "维信")}
    assert len(sounds) == 1
    assert normalize(folding, "微信", "sound").text != normalize(folding, "短信", "sound").text


def test_repeat_view_collapses_runs_and_maps_to_whole_run(folding: Folding) -> None:
    n = normalize(folding, "约约约-炮炮", "repeat")
    assert n.text == "约炮"
    assert n.spans == ((0, 3), (4, 6))


def test_batch_views_keep_messages_apart(folding: Folding) -> None:
    batch = BatchText.build(folding, ["微", "信", ""])
    assert batch.view("compact") == "微\n信\n"
    assert batch.message_starts("compact").tolist() == [0, 2, 4]


# -- properties -------------------------------------------------------------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
NOISE = st.sampled_from(["\u200b", "\u200d", "\ufeff", " ", "　", "-", ".", "·", "*", "❤", "💋",
                         "😘", "，", "、", "_", "~", "\u2060", "|"])  # fmt: skip
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT, st.sampled_from(["compact", "folded", "digits", "sound", "repeat"]))
def test_spans_always_inside_the_original(folding: Folding, text: str, view: str) -> None:
    n = normalize(folding, text, view)
    assert len(n.spans) == len(n.text)
    for start, end in n.spans:
        assert 0 <= start < end <= len(text)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_normalisation_is_idempotent(folding: Folding, text: str) -> None:
    for view in ("compact", "folded"):
        once = normalize(folding, text, view).text
        assert normalize(folding, once, view).text == once


@settings(max_examples=200, deadline=None)
@given(st.text(CJK, min_size=2, max_size=6), st.lists(st.lists(NOISE, max_size=3), min_size=5))
def test_noise_between_cjk_characters_never_hides_the_term(
    folding: Folding, term: str, noise: list[list[str]]
) -> None:
    disguised = "".join(ch + "".join(noise[i % len(noise)]) for i, ch in enumerate(term))
    expected = normalize(folding, term).text
    assert expected in normalize(folding, f"前{disguised}后").text


WIDEN = {**{chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}}
STYLES = [
    lambda c: WIDEN.get(c, c),
    lambda c: chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else c,  # bold
    lambda c: chr(0x24D0 + ord(c) - 97) if "a" <= c <= "z" else c,  # circled
    lambda c: chr(0x1D7CE + ord(c) - 48) if "0" <= c <= "9" else c,  # bold digits
    lambda c: c.upper(),
]


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=2, max_size=8),
       st.integers(0, len(STYLES) - 1))  # fmt: skip
def test_widened_or_styled_latin_reads_the_same(folding: Folding, word: str, style: int) -> None:
    styled = "".join(STYLES[style](c) for c in word)
    assert normalize(folding, styled).text == word


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab微信 …⑩ß½\n™①", max_size=12), min_size=1, max_size=30))
def test_a_batch_expands_exactly_the_messages_holding_expandable_characters(
    folding: Folding, texts: list[str]
) -> None:
    """`BatchText.build` finds those messages from their positions in the joined batch; the
    reference asks each message character by character, and builds every message alone."""
    batch = BatchText.build(folding, texts)
    expected = {i for i, t in enumerate(texts) if any(folding.expandable[ord(c)] for c in t)}
    assert set(batch.src) == expected
    assert list(batch.src) == sorted(batch.src)
    starts = [*batch.message_starts("folded").tolist(), len(batch.w_codes) + 1]
    for i, text in enumerate(texts):
        alone = BatchText.build(folding, [text])
        assert batch.view("folded")[starts[i] : starts[i + 1] - 1] == alone.view("folded")
        if i in batch.src:
            assert batch.src[i].tolist() == alone.src[0].tolist()
        for w in range(len(alone.w_codes)):
            assert batch.to_original(i, starts[i] + w, starts[i] + w + 1) == alone.to_original(
                0, w, w + 1
            )


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="ab微 …⑩ß½\n™①ﬁ㎡", max_size=20))
def test_expansion_maps_every_output_character_to_its_source(folding: Folding, text: str) -> None:
    """The reference replaces character by character and notes where each output came from."""
    from screener.text.views import _expand

    out, offsets = [], []
    for i, ch in enumerate(text):
        piece = folding.expand.get(ord(ch), ch)
        out.append(piece)
        offsets += [i] * len(piece)
    expanded, got = _expand(folding, text)
    assert expanded == "".join(out)
    assert got.tolist() == [*offsets, len(text)]
