"""The README's rule-pack tutorial is real: it loads, and its examples pass."""

from __future__ import annotations

import re
from pathlib import Path

from screener.rules import load_packs
from screener.rules.examples import run_examples

README = Path(__file__).resolve().parents[2] / "README.md"


def test_tutorial_pack_loads_and_its_examples_pass(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Writing rule packs", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    pack = tmp_path / "tutorial.yaml"
    pack.write_text(block.group(1), encoding="utf-8")
    results = run_examples(load_packs([pack]))
    assert len(results) >= 7
    assert [r for r in results if not r.ok] == []
