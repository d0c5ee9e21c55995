"""`screener bench scan` times the real command and the plain script on the same lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from screener.measure.bench_scan import bench_scan


def test_bench_scan_runs_both_contenders_over_the_same_lines(tmp_path: Path) -> None:
    pytest.importorskip("ahocorasick")  # the plain script's matcher (a dev dependency)
    lexicon = tmp_path / "terms.tsv"
    lexicon.write_text("word\ttag\n约炮\tporn\n网赌\tgambling\n", encoding="utf-8")
    result = bench_scan(lines=400, repeats=1, console=Console(quiet=True), lexicon=lexicon)
    contenders = result["contenders"]
    assert isinstance(contenders, dict) and len(contenders) == 2
    ours, plain = contenders.values()
    assert ours["flagged"] > 0 and plain["flagged"] > 0  # both really screened the lines
    assert len(ours["wall_s"]) == len(plain["wall_s"]) == 1
    assert result["ratio"] == result["ratio_per_round"][0] > 0  # type: ignore[index]
    assert result["plain_lexicon"] == str(lexicon)
    assert result["scan_jobs"] == len(os.sched_getaffinity(0)) and result["cpu_ratio"] > 0
