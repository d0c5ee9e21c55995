"""Pinyin spellings come from the artefact cache once computed (no pypinyin import at start)."""

from __future__ import annotations

from pathlib import Path

import pypinyin
import pytest

from screener.artefacts import ArtefactCache
from screener.match.spellings import Spellings


def test_spellings_are_remembered_and_a_damaged_entry_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ArtefactCache(tmp_path)
    first = Spellings(cache)
    assert first("加微信") == ["jia", "wei", "xin"]
    first.save()

    def refuse(*_: object, **__: object) -> list[str]:
        raise AssertionError("pypinyin asked again")

    monkeypatch.setattr(pypinyin, "lazy_pinyin", refuse)
    again = Spellings(cache)
    assert again("加微信") == ["jia", "wei", "xin"]  # from the cache, pypinyin untouched
    with pytest.raises(AssertionError):
        again("约炮")  # a new text still goes to pypinyin

    (entry,) = (tmp_path / "pinyin").iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])  # damaged: its SHA-256 no longer matches
    monkeypatch.undo()
    assert Spellings(cache)("加微信") == ["jia", "wei", "xin"]
