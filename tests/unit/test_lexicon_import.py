"""`screener lexicon import`: encodings, normalisation, de-duplication, tag mapping and the
benign-precision grading (strong / weak / dropped), each demotion and drop reported with its
reason; the benign check reads only the tune part of labelled files."""

from __future__ import annotations

from pathlib import Path

from screener.cli import main
from screener.engine import Engine
from screener.measure.holdout import part_of
from screener.rules import load_packs

PACKS = Path(__file__).resolve().parents[2] / "seeds" / "rules"


def _benign(part: str, n: int, template: str) -> list[str]:
    """`n` distinct texts of one part of the fixed split (so the test knows what is read)."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        text = template.format(i)
        if part_of(text) == part:
            out.append(text)
        i += 1
    return out


def _write_benign(path: Path, texts: list[str]) -> None:
    path.write_text("label\ttext\n" + "".join(f"0\t{t}\n" for t in texts), encoding="utf-8")


def test_import_normalises_maps_and_filters(tmp_path: Path) -> None:
    words = (
        "黄色视频\tporn/色情\n黄 色 视 频\tporn\n百家乐\tgambling/赌博\n鸡\tporn\nabc\tpolitics\n"
    )
    (tmp_path / "gbk.txt").write_bytes(words.encode("gb18030"))
    (tmp_path / "u16.txt").write_bytes("色情图片\tporn\n".encode("utf-16"))
    out = tmp_path / "out"
    code = main(
        [
            "lexicon",
            "import",
            str(tmp_path / "gbk.txt"),
            str(tmp_path / "u16.txt"),
            "--out",
            str(out),
            "--map",
            "porn=porn",
            "--map",
            "gambling=gambling",
        ]
    )
    assert code == 0
    assert (out / "porn.txt").read_text("utf-8") == "黄色视频\tporn\n色情图片\tporn\n"
    assert (out / "gambling.txt").read_text("utf-8") == "百家乐\tgambling\n"
    report = (out / "report.tsv").read_text("utf-8")
    assert "黄 色 视 频\tdropped\tduplicate of '黄色视频'" in report
    assert "鸡\tdropped\ta single character" in report
    assert "abc\tdropped\tno category" in report


def test_benign_terms_are_demoted_or_dropped_reading_only_the_tune_part(tmp_path: Path) -> None:
    # 1,000 tune-part benign rows: 0.05% → a term on more than 0.5 of them is weak, on more
    # than 5 (0.5%) dropped. 小电影 is on 2 (weak), 聊天 on 10 (dropped), 黄色视频 on none.
    tune = _benign("tune", 988, "今天第{}天天气不错")
    tune += _benign("tune", 2, "周末去看第{}部小电影吗") + _benign("tune", 10, "晚上一起聊天第{}次")
    # held rows full of 百家乐: were they read, it would be dropped rather than kept strong
    held = _benign("held", 30, "百家乐第{}家店开业")
    benign = tmp_path / "cold_benign.tsv"
    _write_benign(benign, tune + held)
    (tmp_path / "w.txt").write_text(
        "黄色视频\tporn\n小电影\tporn\n聊天\tporn\n百家乐\tgambling\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    code = main(
        [
            "lexicon",
            "import",
            str(tmp_path / "w.txt"),
            "--out",
            str(out),
            "--map",
            "porn=porn",
            "--map",
            "gambling=gambling",
            "--benign",
            str(benign),
        ]
    )
    assert code == 0
    assert (out / "porn.txt").read_text("utf-8") == "黄色视频\tporn\n"
    assert (out / "porn.weak.txt").read_text("utf-8") == "小电影\tporn\n"
    assert (out / "gambling.txt").read_text("utf-8") == "百家乐\tgambling\n"
    report = (out / "report.tsv").read_text("utf-8")
    assert "小电影\tweak\tfires on 2 of 1000 benign messages" in report
    assert "only with other evidence" in report
    assert "聊天\tdropped\tfires on 10 of 1000 benign messages" in report
    assert "百家乐" not in report

    # The pack fragment: a strong term flags alone; a weak one only with a contact or price.
    engine = Engine(load_packs([PACKS, out / "imported.yaml"]))
    texts = ["有小电影", "有小电影，加我微信 abc12345", "黄色视频"]
    fired = [{f.rule for f in v.findings} for v in engine.screen_texts(texts)]
    assert not {r for r in fired[0] if r.startswith("imported.")}
    assert "imported.porn.weak" in fired[1]
    assert "imported.porn" in fired[2]
