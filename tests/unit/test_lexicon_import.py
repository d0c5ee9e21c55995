"""`screener lexicon import`: encodings, normalisation, de-duplication, tag mapping and the
benign-precision filter, each drop reported with its reason."""

from __future__ import annotations

from pathlib import Path

from screener.cli import main


def test_import_normalises_maps_and_filters(tmp_path: Path) -> None:
    words = (
        "黄色视频\tporn/色情\n黄 色 视 频\tporn\n百家乐\tgambling/赌博\n"
        "微信\tporn\n鸡\tporn\nabc\tpolitics\n"
    )
    (tmp_path / "gbk.txt").write_bytes(words.encode("gb18030"))
    (tmp_path / "u16.txt").write_bytes("色情图片\tporn\n".encode("utf-16"))
    benign = tmp_path / "cold_x.tsv"
    benign.write_text("label\ttext\n0\t加我微信聊天\n0\t今天天气好\n1\t别管\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["lexicon", "import", str(tmp_path / "gbk.txt"), str(tmp_path / "u16.txt"),
                 "--out", str(out), "--map", "porn=porn", "--map", "gambling=gambling",
                 "--benign", str(benign)])  # fmt: skip
    assert code == 0
    assert (out / "porn.txt").read_text("utf-8") == "黄色视频\tporn\n色情图片\tporn\n"
    assert (out / "gambling.txt").read_text("utf-8") == "百家乐\tgambling\n"
    report = (out / "report.tsv").read_text("utf-8")
    assert "黄 色 视 频\tduplicate of '黄色视频'" in report
    assert "鸡\ta single character" in report
    assert "abc\tno category" in report
    assert "微信\tfires on 1 of 2 benign messages" in report
