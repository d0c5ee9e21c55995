"""Pack validation (every problem refused with file:line) and condition semantics."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from screener.engine import Engine
from screener.events import parse_obj
from screener.match.hyperscan_db import _unbounded
from screener.rules import PackError, load_packs

GOOD = """\
lexicons:
  words:
    terms: [约炮, {term: escort, tags: [paid]}]
rules:
  - id: r1
    category: solicitation
    score: 6
    condition: hit(words)
"""


def when(condition: str) -> str:
    """GOOD with another condition for its rule (line 8)."""
    return GOOD.replace("hit(words)", condition)


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(PackError) as info:
        load_packs([path])
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (GOOD + "    colour: red\n", 9, "Extra inputs are not permitted"),
        (GOOD.replace("score: 6", "score: lots"), 7, "score"),
        (GOOD.replace("hit(words)", "hit(nowords)"), 8, "undefined lexicon 'nowords'"),
        (GOOD.replace("hit(words)", "hit(words) and is_spam"), 8, "unknown name 'is_spam'"),
        (GOOD.replace("hit(words)", "hit(words) and"), 8, "expected"),
        (GOOD.replace("hit(words)", "detector(fax)"), 8, "unknown detector 'fax'"),
        (GOOD.replace("hit(words)", "tag(free)"), 8, "no term carries tag 'free'"),
        (GOOD.replace("hit(words)", "re(nope)"), 8, "undefined regex 'nope'"),
        (when("len(user.followers) > 3"), 8, "len() takes a string or a list, not null or number"),
        (when("len(media_type(image)) > 3"), 8, "len() takes a string or a list"),
        (GOOD.replace("hit(words)", "text < 3"), 8, "'<' compares numbers, not string"),
        (when("user.verified >= true"), 8, "'>=' compares numbers, not bool or null"),
        (when("user.name in user.followers"), 8, "needs a list or a string on its right"),
        (when("user.__class__.__init__.__globals__ == 1"), 8, "unknown name 'user.__class__"),
        (GOOD.replace("hit(words)", "user.region == 'eu'"), 8, "unknown name 'user.region'"),
        (GOOD.replace("hit(words)", "media.type == 'image'"), 8, "unknown name 'media.type'"),
        (GOOD.replace("hit(words)", "eval(text)"), 8, "unknown function 'eval'"),
        (GOOD + "regexes:\n  bad: '(a)\\1'\n", 10, "regex 'bad' refused"),
        (GOOD + "regexes:\n  slow: '(?<=a)b'\n", 10, "regex 'slow' refused"),
        (GOOD + "regexes:\n  anchored: '\\Aabc'\n", 10, "use ^ and $"),
        (GOOD + "  - {id: r1, category: porn, condition: hit(words)}\n", 9, "duplicate rule id"),
        (GOOD + "macros:\n  a: b\n  b: a and hit(words)\n", 10, "circular macro"),
        (GOOD + "macros:\n  a: hit(nothing)\n", 10, "undefined lexicon 'nothing'"),
        (GOOD.replace("category: solicitation", "category: Bad Category"), 6, "category"),
        (GOOD.replace("[约炮,", "[❤❤,"), 3, "no letters or digits"),
        (GOOD + "lexicons2: {}\n", 9, "lexicons2"),
        ("rules: [\n  {id: x,\n", 3, "YAML syntax"),
        (GOOD + "rules: []\n", 9, "duplicate key"),
        (GOOD.replace("    terms:", "    file: missing.txt\n    terms:"), 3, "cannot read lexicon"),
    ],
)  # fmt: skip
def test_invalid_packs_are_refused_with_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(f"{tmp_path / 'pack.yaml'}:{line}: ") and reason in p for p in found), (
        found
    )


def test_lexicon_file_errors_name_the_lexicon_file(tmp_path: Path) -> None:
    (tmp_path / "terms.txt").write_text("# comment\n约炮\tpaid\nescort\tbad tag!\n", "utf-8")
    found = problems(tmp_path, GOOD.replace("    terms:", "    file: terms.txt\n    terms:"))
    assert found == [f"{(tmp_path / 'terms.txt').resolve()}:3: String should match pattern "
                     "'^[A-Za-z_][A-Za-z0-9_]*$'"]  # fmt: skip


def test_names_are_shared_across_files_but_not_duplicated(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, "rules:\n  - {id: r2, category: porn, condition: tag(paid)}\n", "b.yaml")
    assert len(load_packs([tmp_path]).rules) == 2
    write(tmp_path, "lexicons:\n  words: {terms: [x1]}\n", "c.yaml")
    with pytest.raises(PackError, match=r"c.yaml:2: lexicon 'words' is defined twice"):
        load_packs([tmp_path])


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    a = load_packs([write(tmp_path, GOOD)]).version
    assert a == load_packs([write(tmp_path, GOOD)]).version
    assert a.startswith("sha256:") and len(a) == 7 + 64
    assert a != load_packs([write(tmp_path, GOOD.replace("score: 6", "score: 7"))]).version


PACK = """\
lexicons:
  words: {terms: [约炮, 包夜, 上门]}
  contact: {terms: [微信]}
macros:
  young: user.account_age_days < 7
rules:
  - {id: two_words, category: solicitation, score: 3, condition: distinct(words) >= 2}
  - {id: counted, category: solicitation, score: 1, condition: count(words) >= 3}
  - {id: new_account, category: solicitation, score: 4, condition: hit(words) and young}
  - {id: flood, category: porn, score: 9,
     condition: 'media_type(image) > 3 and kind == "microblog"'}
  - {id: platform, category: fraud, score: 1,
     condition: 'platform in ["weibo", "qq"] and hit(contact)'}
  - {id: no_contact, category: fraud, score: 1, condition: 'hit(words) and not hit(contact)',
     exceptions: ['user.verified == true']}
  - {id: disabled, category: fraud, score: 100, condition: hit(words), enabled: false}
  - {id: floor, category: extortion, score: 0, action: block,
     condition: 'len(text) > 30 and hit(contact)'}
thresholds: {review: 4, block: 10}
"""


def screen(tmp_path: Path, **event: object) -> tuple[set[str], str, float]:
    engine = Engine(load_packs([write(tmp_path, PACK)]))
    base = {"kind": "chat", "id": "e", "ts": 0, "user": {"id": "u"}}
    parsed = parse_obj({**base, **event})
    assert not hasattr(parsed, "reason"), parsed
    verdict = engine.screen([parsed])[0]  # type: ignore[list-item]
    return {f.rule for f in verdict.findings}, verdict.action, verdict.score


def test_counts_and_distinct(tmp_path: Path) -> None:
    fired, action, score = screen(tmp_path, text="约炮 约炮 约炮")
    assert fired == {"counted", "no_contact"} and score == 2 and action == "allow"
    fired, action, score = screen(tmp_path, text="约炮 包夜")
    assert "two_words" in fired and "counted" not in fired


def test_fields_macros_and_missing_values(tmp_path: Path) -> None:
    assert (
        "new_account" in screen(tmp_path, text="包夜", user={"id": "u", "account_age_days": 2})[0]
    )
    assert (
        "new_account"
        not in screen(tmp_path, text="包夜", user={"id": "u", "account_age_days": 30})[0]
    )
    assert "new_account" not in screen(tmp_path, text="包夜")[0]  # missing → comparison false


def test_rules_without_evidence_run_for_every_event(tmp_path: Path) -> None:
    media = [{"type": "image"}] * 4
    fired, action, _ = screen(tmp_path, kind="microblog", media=media)
    assert fired == {"flood"} and action == "review"
    assert screen(tmp_path, kind="chat", media=media)[0] == set()


def test_in_lists_exceptions_disabled_and_action_floor(tmp_path: Path) -> None:
    assert "platform" in screen(tmp_path, text="加微信", platform="weibo")[0]
    assert "platform" not in screen(tmp_path, text="加微信", platform="wechat")[0]
    assert "no_contact" not in screen(tmp_path, text="包夜", user={"id": "u", "verified": True})[0]
    fired, action, score = screen(tmp_path, text="加微信" + "。" * 30)
    assert fired == {"floor"} and action == "block" and score == 0


def test_scores_add_up_per_category_to_thresholds(tmp_path: Path) -> None:
    fired, action, score = screen(
        tmp_path, text="约炮 包夜 上门", user={"id": "u", "account_age_days": 1}
    )
    assert fired == {"two_words", "counted", "new_account", "no_contact"}
    assert score == 9 and action == "review"


def test_long_texts_are_screened_on_their_start_and_marked(tmp_path: Path) -> None:
    engine = Engine(load_packs([write(tmp_path, PACK)]), max_text_chars=10)
    short, long, late = engine.screen_texts(
        ["约炮 包夜", "约炮 包夜" + "啊" * 20, "啊" * 20 + "约炮 包夜"]
    )
    assert not short.truncated and long.truncated and late.truncated
    assert {f.rule for f in long.findings} == {f.rule for f in short.findings} != set()
    assert late.findings == ()  # evidence past the cap is not looked at


@pytest.mark.parametrize(
    ("pattern", "prefilter"),
    [
        (r"a.{0,60}b", "a.*b"),
        (r"\b(to|on)[^.!?\n]{0,40}?\d{5}", r"\b(to|on)[^.!?\n]*\d{5}"),
        (r"\{0,5}x", r"\{0,5}x"),  # an escaped brace is a literal
        (r"[{0,5}]x{1,3}", r"[{0,5}]x{1,3}"),  # inside a class, and a lower bound
        (r"[]{0,5}]y", r"[]{0,5}]y"),
        (r"[^]{0,5}]y", r"[^]{0,5}]y"),
        (r"[[:alpha:]{0,5}]z{0,2}", r"[[:alpha:]{0,5}]z*"),
    ],
)
def test_prefilter_only_widens_bounded_repeats(pattern: str, prefilter: str) -> None:
    assert _unbounded(pattern) == prefilter


def test_every_condition_function_is_documented_for_pack_authors() -> None:
    from screener.rules.functions import FUNCTIONS

    doc = (Path(__file__).parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    missing = [f.usage for f in FUNCTIONS.values() if f"`{f.usage}`" not in doc]
    assert not missing, missing


def test_fields_that_may_hold_several_kinds_compile_and_stay_safe(tmp_path: Path) -> None:
    """`conversation.members` is a number or a list: `len()` and `>` compile, and each is
    simply false for the kind it does not fit instead of failing the event."""
    pack = write(tmp_path, GOOD.replace("hit(words)", "len(conversation.members) > 1 or "
                                        "conversation.members > 1"))  # fmt: skip
    engine = Engine(load_packs([pack]))
    base = {"kind": "chat", "id": "e", "ts": 0, "user": {"id": "u"}, "text": "x"}
    events = [parse_obj({**base, "conversation": {"members": m}}) for m in (5, ["a", "b"], 1)]
    verdicts = engine.screen(events)  # type: ignore[arg-type]
    assert [v.flagged for v in verdicts] == [True, True, False]


@pytest.mark.parametrize(
    "padding",
    ["a" + "\u0301" * 100_000, "\u200b" * 30_000, " " * 30_000, "。" * 30_000, "\ufe0f" * 30_000],
)
def test_invisible_padding_cannot_push_content_past_the_cap(tmp_path: Path, padding: str) -> None:
    """The cap counts letters and digits after folding: combining marks, zero-width
    characters, blanks and punctuation before a term never hide it."""
    engine = Engine(load_packs([write(tmp_path, PACK)]))
    (verdict,) = engine.screen_texts([padding + "约炮 包夜 上门"])
    assert "two_words" in {f.rule for f in verdict.findings}
    assert not verdict.truncated
    (hidden,) = engine.screen_texts(["啊" * 20_000 + "约炮 包夜 上门"])
    assert hidden.truncated and not hidden.findings  # visible text past the cap is cut
