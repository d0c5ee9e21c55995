"""screener.measure.evaluate: label schemes, scoring arithmetic, rendering, and an end-to-end run
on a tiny TSV written here (the real corpora live outside the repo and are never needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from screener.engine import Engine
from screener.measure.evaluate import (
    SCHEMES,
    Row,
    evaluate,
    read_tsv,
    render_markdown,
    scheme_for,
    score_dataset,
)
from screener.rules import load_packs

SEED_RULES = Path(__file__).resolve().parents[2] / "seeds" / "rules"


@dataclass(frozen=True)
class FakeVerdict:
    flagged: bool
    category: str | None


def v(category: str | None) -> FakeVerdict:
    return FakeVerdict(category is not None, category)


def test_scheme_by_file_name() -> None:
    assert scheme_for(Path("chineseharm_dev.tsv")) is SCHEMES["chineseharm"]
    assert scheme_for(Path("x/cold_train.tsv")) is SCHEMES["cold"]
    assert scheme_for(Path("swsr_comments.tsv")) is SCHEMES["swsr"]
    assert scheme_for(Path("unknown.tsv")) is None


def test_per_category_scores() -> None:
    rows = [Row(label, "") for label in ["porn", "porn", "fraud", "fine", "fine", "fine"]]
    verdicts = [v("porn"), v("solicitation"), v("porn"), v(None), v("porn"), v(None)]
    report = score_dataset("chineseharm_dev.tsv", SCHEMES["chineseharm"], rows, verdicts)
    porn = report.scores["porn"]
    assert (porn.positives, porn.tp, porn.predicted) == (2, 1, 3)  # fraud row + benign row
    assert porn.precision == pytest.approx(1 / 3)
    assert porn.recall == pytest.approx(0.5)
    assert porn.any_flag_recall == 1.0  # the solicitation verdict still flagged it
    assert porn.fpr == pytest.approx(1 / 3)
    assert report.fpr == pytest.approx(1 / 3)
    fraud = report.scores["fraud"]
    assert (fraud.tp, fraud.predicted, fraud.any_flag_recall) == (0, 0, 1.0)


def test_accept_widens_a_category() -> None:
    rows = [Row("porn", ""), Row("fine", "")]
    verdicts = [v("solicitation"), v(None)]
    strict = score_dataset("c", SCHEMES["chineseharm"], rows, verdicts)
    wide = score_dataset(
        "c", SCHEMES["chineseharm"], rows, verdicts, {"porn": frozenset({"solicitation"})}
    )
    assert strict.scores["porn"].recall == 0.0
    assert wide.scores["porn"].recall == 1.0


def test_spam_is_scored_on_any_flag() -> None:
    rows = [Row(label, "") for label in ["1", "1", "1", "0", "0"]]
    verdicts = [v("fraud"), v("gambling"), v(None), v("abuse"), v(None)]
    report = score_dataset("cn_sms_spam_50k.tsv", SCHEMES["cn_sms_spam"], rows, verdicts)
    spam = report.scores["spam"]
    assert spam.recall == pytest.approx(2 / 3)
    assert spam.precision == pytest.approx(2 / 3)
    assert spam.fpr == pytest.approx(1 / 2)


def test_sexism_reported_separately() -> None:
    rows = [Row("1", ""), Row("0", "")]
    report = score_dataset("swsr.tsv", SCHEMES["swsr"], rows, [v("abuse"), v(None)])
    assert list(report.scores) == ["abuse (sexism)"]


def test_read_and_evaluate_a_small_corpus(tmp_path: Path) -> None:
    tsv = tmp_path / "chineseharm_tiny.tsv"
    tsv.write_text(
        "label\ttext\n"
        "gambling\t金花牛牛三公，一毛一分，玩的加我\n"
        "abuse\t你个傻逼\n"
        "fine\t今天天气不错，我们去公园散步吧。\n",
        encoding="utf-8",
    )
    assert read_tsv(tsv, limit=1) == [Row("gambling", "金花牛牛三公，一毛一分，玩的加我")]
    report = evaluate(Engine(load_packs([SEED_RULES])), [tmp_path])
    (ds,) = report.datasets
    assert ds.rows == 3 and ds.benign == 1 and ds.benign_flagged == 0
    assert ds.scores["gambling"].tp == 1 and ds.scores["abuse"].tp == 1
    text = render_markdown(report)
    assert "| chineseharm_tiny.tsv | gambling | 1 | 1.000 | 1.000 | 1.000 |" in text
    assert "Pooled over the datasets" in text


def test_six_class_view_and_headline(tmp_path: Path) -> None:
    from screener.measure.evaluate import render_details, render_headline
    from screener.measure.quality import RowResult, six_class, six_class_scores

    assert six_class("solicitation") == "porn" and six_class("extortion") == "fraud"
    assert six_class(None) == "fine"
    rows = [
        RowResult("porn", "", "solicitation", 6, ("solicit.x",)),
        RowResult("porn", "", None, 0, ()),
        RowResult("fraud", "", "extortion", 8, ("extortion.y",)),
        RowResult("fine", "", "fraud", 5, ("fraud.z",), {"fraud": 0.9}),
        RowResult("fine", "", None, 0, ()),
    ]
    six = six_class_scores(rows)
    assert six.confusion[("porn", "porn")] == 1 and six.confusion[("fine", "fraud")] == 1
    assert six.harmful.tp == 2 and six.harmful.fp == 1 and six.harmful.fn == 1
    assert six.harmful.fpr == pytest.approx(0.5)
    assert six.f1("porn") == pytest.approx(2 / 3)  # tp 1, fn 1
    assert six.f1("fraud") == pytest.approx(2 / 3)  # tp 1, fp 1
    assert six.f1("fine") == pytest.approx(0.5)  # tp 1, fp 1 (the missed porn), fn 1
    assert six.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 0.5) / 6)

    tsv = tmp_path / "chineseharm_tiny.tsv"
    tsv.write_text("label\ttext\ngambling\t金花牛牛三公，一毛一分，玩的加我\nfine\t你好\n", "utf-8")
    engine = Engine(load_packs([SEED_RULES]))
    report = evaluate(engine, [tsv])
    text = render_headline(report, evaluate(engine, [tsv]))
    assert "| chineseharm_tiny.tsv: harmful-vs-benign F1 | 1.000 | 1.000 | +0.000 |" in text
    details = render_details(report, 3)
    assert "| gambling | 0 | 0 | 1 | 0 | 0 | 0 | 1.000 |" in details
