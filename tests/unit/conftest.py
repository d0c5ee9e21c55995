from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from screener.artefacts import CACHE_ENV
from screener.engine import Engine
from screener.rules import RulePack, load_packs
from screener.text.folding import Folding, build_folding

PACKS = Path(__file__).parent / "packs"


@pytest.fixture(scope="session", autouse=True)
def _artefact_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled artefacts go to a directory of this run, not the user's cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("artefacts")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def folding() -> Folding:
    return build_folding()


@pytest.fixture(scope="session")
def basic_pack() -> RulePack:
    return load_packs([PACKS / "basic.yaml"])


@pytest.fixture(scope="session")
def engine(basic_pack: RulePack) -> Engine:
    return Engine(basic_pack)
