"""Fast compile: RE2-only validation, the prefilter fallback, and the artefact cache.

Whatever the cache holds, a pack compiled through it must find exactly what a fresh compile
finds; a damaged or unsafe cache is ignored, never trusted.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from screener.artefacts import ArtefactCache
from screener.engine import Engine
from screener.match.hyperscan_db import _prefilter_db
from screener.match.regexes import RegexSet, RegexSpec
from screener.rules import load_packs
from screener.rules.bench import bench_compile
from screener.rules.pack import Phases
from screener.synthetic import corpus
from screener.text.folding import Folding, build_folding, compute_folding, load_or_build
from screener.text.views import BatchText

SEEDS = Path(__file__).parents[2] / "seeds"


def test_cached_folding_tables_equal_computed_ones(tmp_path: Path) -> None:
    computed = compute_folding()
    cache = ArtefactCache(tmp_path)
    assert load_or_build(cache, compute_folding) is not None  # stores
    loaded = load_or_build(cache, lambda: pytest.fail("rebuilt although cached"))
    for f in fields(Folding):
        a, b = getattr(computed, f.name), getattr(loaded, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f.name
        else:
            assert a == b, f.name


def test_damaged_cache_entries_are_rebuilt(tmp_path: Path) -> None:
    cache = ArtefactCache(tmp_path)
    load_or_build(cache, compute_folding)
    (entry,) = (tmp_path / "folding").iterdir()
    data = bytearray(entry.read_bytes())
    data[100] ^= 0xFF  # the stored digest no longer matches
    entry.write_bytes(bytes(data))
    assert cache.get("folding", entry.name) is None
    rebuilt: list[bool] = []

    def build() -> Folding:
        rebuilt.append(True)
        return build_folding()

    load_or_build(cache, build)
    assert rebuilt == [True]


def test_a_cache_others_can_write_to_is_not_used(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    cache = ArtefactCache(root)
    cache.put("hyperscan", "a" * 64, b"x")
    assert cache.get("hyperscan", "a" * 64) == b"x"
    os.chmod(root, 0o777)
    assert cache.get("hyperscan", "a" * 64) is None
    os.chmod(root, 0o700)
    link = tmp_path / "link"
    link.symlink_to(root / "hyperscan")
    assert ArtefactCache(tmp_path).get("link", "a" * 64) is None  # a symlinked kind dir
    assert cache.get("hyperscan", "../../etc/passwd") is None  # keys are hashes, nothing else


def test_shipped_packs_find_the_same_through_the_cache(tmp_path: Path) -> None:
    cache = ArtefactCache(tmp_path)
    fresh = load_packs([SEEDS / "rules"], cache=ArtefactCache(None))
    assert load_packs([SEEDS / "rules"], cache=cache).regexes.wait(60)  # fills the cache
    assert list((tmp_path / "hyperscan").iterdir())
    cached = load_packs([SEEDS / "rules"], cache=cache)
    assert cached.regexes._compiled  # Hyperscan from the cache, at once
    texts = corpus.messages(2000, seed=3)
    assert [v.to_dict() for v in Engine(cached).screen_texts(texts)] == [
        v.to_dict() for v in Engine(fresh).screen_texts(texts)
    ]
    batch = BatchText.build(fresh.folding, texts)
    assert cached.regexes.find(batch) == fresh.regexes.find(batch) != {}


def test_a_regex_hyperscan_refuses_is_searched_by_re2_alone(tmp_path: Path) -> None:
    """RE2 is the only validation: `(ab)*` matches the empty string, which Hyperscan will
    not compile; it is left out of the prefilter and still found."""
    specs = [RegexSpec(0, "folded", "(ab)*"), RegexSpec(1, "folded", "cd")]
    _, refused = _prefilter_db([s.pattern for s in specs], [0, 1])
    assert refused == [0]
    folding = build_folding()
    batch = BatchText.build(folding, ["xx abab", "cd", "none"])
    for cache in (None, ArtefactCache(tmp_path), ArtefactCache(tmp_path)):
        found = RegexSet(specs, cache).find(batch)
        assert found == {0: {0: [(3, 7, "abab")]}, 1: {1: [(0, 2, "cd")]}}


def test_bench_compile_prints_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    result = bench_compile([SEEDS / "rules"], 1, Console(width=100))
    out = capsys.readouterr().out
    for phase in ("parse", "tables", "validate", "lexicons", "regexes", "total"):
        assert phase in out and result["cold"][phase] >= 0 and result["warm"][phase] >= 0
    assert result["warm"]["regexes"] < result["cold"]["regexes"]
    assert result["pack"]["rules"] > 40


def test_an_unwritable_cache_warns_once_and_compiles_cold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only root filesystem: the cache directory cannot be made. (Tests run as root,
    which a mode bit would not stop, so the directory's parent is a plain file.)"""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    cache = ArtefactCache(blocked / "screener")
    texts = corpus.messages(300, seed=4)
    reference = [v.to_dict() for v in Engine(load_packs([SEEDS / "rules"])).screen_texts(texts)]
    with caplog.at_level("WARNING", logger="screener.artefacts"):
        for _ in range(2):
            pack = load_packs([SEEDS / "rules"], cache=cache)
            assert pack.regexes.wait(60)
            assert [v.to_dict() for v in Engine(pack).screen_texts(texts)] == reference
    warnings = [r for r in caplog.records if "not writable" in r.getMessage()]
    assert len(warnings) == 1 and str(blocked / "screener") in warnings[0].getMessage()
    assert blocked.read_text() == ""


class _GcDuring(Phases):
    """Records whether the cycle collector runs while the lexicons compile."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled: list[bool] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if name == "lexicons":
            self.enabled.append(gc.isenabled())
        with super().__call__(name):
            yield


def test_a_compile_in_a_thread_leaves_the_cycle_collector_running() -> None:
    """A hot reload compiles in a thread while the loop screens: the collector is
    process-wide, so only a compile on the main thread pauses it."""
    assert gc.isenabled()
    main = _GcDuring()
    load_packs([SEEDS / "rules"], phases=main)
    threaded = _GcDuring()
    worker = threading.Thread(target=load_packs, args=([SEEDS / "rules"],),
                              kwargs={"phases": threaded})  # fmt: skip
    worker.start()
    worker.join(120)
    assert main.enabled and not any(main.enabled)
    assert threaded.enabled and all(threaded.enabled)
    assert gc.isenabled()
