"""The cross-validation harness: folds, the near-zero model rules, and replays that must give
the engine's own verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from screener.engine import Engine
from screener.measure import crossval, cutoffs
from screener.measure.crossval import FOLDS, fold_of, tiny_rules
from screener.rules import load_packs

PORN = ["黄色视频全套资源加微信", "色情图片每天更新私聊", "成人视频高清资源", "小黄片合集网盘",
        "黄色视频资源私聊", "色情视频每天更新", "成人图片全套", "小黄片高清合集"]  # fmt: skip
FINE = ["今天天气不错", "晚上约朋友吃饭", "微信支付成功了", "周末一起去公园散步",
        "明天早上开会", "这家店的面很好吃", "下午去图书馆看书", "电影院人很多"]  # fmt: skip

PACK = """
lexicons:
  goods: {terms: [黄色视频, 小黄片]}
rules:
  - id: porn.words
    category: porn
    score: 3
    condition: hit(goods)
  - id: model.porn
    category: porn
    score: 6
    condition: model.porn > 0.5
  - id: model.abuse
    category: abuse
    score: 6
    condition: model.abuse > 0.5 and not hit(goods)
"""


def test_folds_are_stable_and_balanced() -> None:
    texts = [f"消息 {i}" for i in range(2000)]
    folds = [fold_of(t) for t in texts]
    assert folds == [fold_of(t) for t in texts]
    counts = [folds.count(k) for k in range(FOLDS)]
    assert min(counts) > 300 and sum(counts) == 2000


def test_tiny_rules_rewrite_only_the_copy(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.yaml").write_text(PACK, "utf-8")
    copy = tiny_rules(rules, tmp_path / "copy")
    assert "model.porn > 0.5" in (rules / "p.yaml").read_text("utf-8")
    text = (copy / "p.yaml").read_text("utf-8")
    assert "model.porn > 0.000001" in text and "model.abuse > 0.000001" in text


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("cv")
    data = root / "data"
    data.mkdir()
    rows = [f"porn\t{t}{i}" for i in range(6) for t in PORN]
    rows += [f"abuse\t你这个笨蛋{t}{i}" for i in range(3) for t in FINE[:4]]
    rows += [f"fine\t{t}{i}" for i in range(6) for t in FINE]
    (data / "chineseharm_x.tsv").write_text("label\ttext\n" + "\n".join(rows) + "\n", "utf-8")
    cold = [f"0\t{t}，真的{i}" for i in range(8) for t in FINE]
    (data / "cold_x.tsv").write_text("label\ttext\n" + "\n".join(cold) + "\n", "utf-8")
    rules = root / "rules"
    rules.mkdir()
    (rules / "p.yaml").write_text(PACK, "utf-8")
    out, models = root / "oof.jsonl", root / "models"
    recipe = [str(data / "chineseharm_x.tsv"), str(data / "cold_x.tsv"), "--part", "tune",
              "--bits", "10", "--epochs", "20", "--learning-rate", "0.05"]  # fmt: skip
    written = crossval.run(recipe, [data], rules, out, keep_models=models)
    assert written == len(cutoffs.read(out)) > 0
    return rules, out, models


def test_replay_gives_the_engines_verdicts(harness: tuple[Path, Path, Path]) -> None:
    rules, out, models = harness
    records = cutoffs.read(out)
    assert {r.fold for r in records} == set(range(FOLDS))
    for t in (0.2, 0.5, 0.8):
        pack_dir = rules.parent / f"rules{t}"
        pack_dir.mkdir(exist_ok=True)
        (pack_dir / "p.yaml").write_text(PACK.replace("> 0.5", f"> {t}"), "utf-8")
        thresholds = {"porn": t, "abuse": t}
        for k in range(FOLDS):
            mine = [r for r in records if r.fold == k]
            engine = Engine(load_packs([pack_dir], model=models / str(k)))
            verdicts = engine.screen_texts([r.text for r in mine])
            for record, verdict in zip(mine, verdicts, strict=True):
                expected = verdict.category if verdict.flagged else None
                assert cutoffs._category(record, thresholds) == expected, record.text


def test_search_keeps_the_limits(harness: tuple[Path, Path, Path]) -> None:
    _, out, _ = harness
    records = cutoffs.read(out)
    replay = cutoffs.Replay(records, ["abuse", "porn"])
    limits = cutoffs.Limits(max_benign=0, max_sms=0.0042, max_cold=0.0)
    t, fig = cutoffs.search(replay, limits, [{"abuse": 0.5, "porn": 0.5}])
    assert limits.excess(fig) == 0 and fig.benign_rows == 0
    assert fig == replay.figures(t)
    assert fig.f1 > 0.8  # the porn rows are easy: the model finds them out-of-fold
    # any lower porn threshold would break a limit or score no better
    for g in cutoffs.GRID:
        trial = replay.figures({**t, "porn": g})
        assert cutoffs.objective(trial, limits) <= cutoffs.objective(fig, limits) + 1e-9


def test_tiny_rules_copies_links_as_links(tmp_path: Path) -> None:
    """A link in the pack directory stays a link in the copy (the pack loader refuses one that
    leads outside, as in the original) and is never written through."""
    from screener.rules import PackError, load_packs

    outside = tmp_path / "outside.yaml"
    body = "rules:\n  - id: x.hit\n    category: porn\n    score: 6\n    condition: 'true'\n"
    outside.write_text(body, "utf-8")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "linked.yaml").symlink_to(outside)
    copy = tiny_rules(rules, tmp_path / "copy")
    assert (copy / "linked.yaml").is_symlink()
    assert outside.read_text("utf-8") == body  # not rewritten through the link
    with pytest.raises(PackError, match="outside"):
        load_packs([copy])


def test_a_recipe_trains_with_every_option_screener_train_reads() -> None:
    """The folds' models are built from the same config as `screener train`'s: every
    TrainConfig field the command has an option for takes the recipe's value."""
    import dataclasses

    from screener.model.cli import train_config

    recipe = ["x.tsv", "--bits", "12", "--epochs", "3", "--learning-rate", "0.07",
              "--class-power", "0.3", "--orders", "1,2", "--min-ngrams", "5", "--digit-class",
              "--l2", "0.001", "--mark-orders", "1"]  # fmt: skip
    args = crossval.train_parser().parse_args([*recipe, "--out", "unused"])
    config = train_config(args)
    shared = [f.name for f in dataclasses.fields(config) if hasattr(args, f.name)]
    assert len(shared) >= 9
    assert {n: getattr(config, n) for n in shared} == {n: getattr(args, n) for n in shared}
    assert config.bits == 12 and config.mark_orders == (1,) and config.digit_class
