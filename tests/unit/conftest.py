from __future__ import annotations

from pathlib import Path

import pytest

from screener.engine import Engine
from screener.rules import RulePack, load_packs
from screener.text.folding import Folding, build_folding

PACKS = Path(__file__).parent / "packs"


@pytest.fixture(scope="session")
def folding() -> Folding:
    return build_folding()


@pytest.fixture(scope="session")
def basic_pack() -> RulePack:
    return load_packs([PACKS / "basic.yaml"])


@pytest.fixture(scope="session")
def engine(basic_pack: RulePack) -> Engine:
    return Engine(basic_pack)
