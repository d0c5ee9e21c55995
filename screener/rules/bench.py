"""`screener bench compile`: how long a pack set takes to compile, phase by phase.

Compile time is what a rule reload and every CLI start wait for. Each run starts from nothing
the process could have kept (the folding tables are rebuilt), and is timed twice: `cold`
without the artefact cache (what a first start or a changed pack pays) and `warm` with a cache
already holding this pack's compiled regex databases (a restart or reload of the same regexes).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from screener.artefacts import ArtefactCache
from screener.rules.pack import Phases, load_packs
from screener.text.folding import build_folding

PHASES = ("parse", "tables", "validate", "lexicons", "regexes")


def _once(paths: Sequence[Path], cache: ArtefactCache) -> dict[str, float]:
    build_folding.cache_clear()
    phases = Phases()
    start = time.perf_counter()
    load_packs(paths, cache=cache, phases=phases)
    total = time.perf_counter() - start
    return {**{p: phases.get(p, 0.0) for p in PHASES}, "total": total}


def bench_compile(paths: Sequence[Path], repeats: int, console: Console) -> dict[str, Any]:
    """Median seconds per phase over `repeats` cold and warm compiles."""
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="screener-bench-cache-") as tmp:
        warm_cache = ArtefactCache(Path(tmp))
        _once(paths, warm_cache)  # fill the cache
        with console.status("compiling") as status:
            for i in range(repeats):  # interleaved, so machine noise hits both alike
                status.update(f"compile {i + 1}/{repeats}")
                runs["cold"].append(_once(paths, ArtefactCache(None)))
                runs["warm"].append(_once(paths, warm_cache))
    result: dict[str, Any] = {
        mode: {k: statistics.median(r[k] for r in rs) for k in (*PHASES, "total")}
        for mode, rs in runs.items()
    }
    pack = load_packs(paths, cache=ArtefactCache(None))
    result["pack"] = {
        "files": len(pack.files), "rules": len(pack.rules), "terms": pack.term_count,
        "regexes": len(pack.regexes.specs), "repeats": repeats,
    }  # fmt: skip
    table = Table(title=f"compile: {', '.join(map(str, paths))} (median of {repeats}, seconds)")
    table.add_column("phase")
    table.add_column("cold", justify="right")
    table.add_column("warm cache", justify="right")
    for phase in (*PHASES, "total"):
        table.add_row(phase, f"{result['cold'][phase]:.3f}", f"{result['warm'][phase]:.3f}")
    console.print(table)
    info = result["pack"]
    console.print(
        f"{info['files']} files, {info['rules']} rules, {info['terms']} terms, "
        f"{info['regexes']} regexes in use"
    )
    return result
