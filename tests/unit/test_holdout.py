"""The fixed tune/held split: a pure function of a row's text, about half and half."""

from __future__ import annotations

import pytest

from screener.measure.evaluate import Row
from screener.measure.holdout import part_of, select

PINNED = ["held", "held", "held", "tune"]


def test_split_is_fixed() -> None:
    # pinned: changing the salt or the hash would silently move rows between the parts
    assert [part_of(t) for t in ("今天天气不错", "a", "黄色视频", "hello world")] == PINNED


def test_split_is_about_half_and_keeps_duplicates_together() -> None:
    rows = [Row("x", f"message {i}") for i in range(4000)]
    held = select(rows, "held")
    assert 1800 < len(held) < 2200
    tune = select(rows, "tune")
    assert len(held) + len(tune) == len(rows) and not {r.text for r in held} & {
        r.text for r in tune
    }
    assert select([Row("a", "same"), Row("b", "same")], part_of("same")) == [
        Row("a", "same"), Row("b", "same"),
    ]  # fmt: skip
    assert select(rows, "all") == rows
    with pytest.raises(ValueError, match="part"):
        select(rows, "test")
