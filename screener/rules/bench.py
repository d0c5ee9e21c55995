"""`screener bench compile`: how long a pack set takes to compile, phase by phase.

Compile time is what a rule reload and every CLI start wait for. Each run starts from nothing
the process could have kept, and is timed twice: `cold` without the artefact cache (what a
first start pays: folding tables computed, regex prefilter compiled) and `warm` with a cache
already holding them (a restart, or a reload whose regexes did not change). Phases are wall
seconds; `cpu` is the process CPU time of the whole compile (on a shared machine wall time
includes waiting for a core).

A cold compile returns a pack that screens at once with the literal regex prefilter while
the Hyperscan database compiles in a background thread (`RegexSet`); `hyperscan (background)`
is how long after that it took to be ready. It is not part of `total` (nothing waits for
it: results are the same either way), and each run waits for it before the next starts.
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

PHASES = ("parse", "tables", "validate", "lexicons", "regexes")
ROWS = (*PHASES, "total", "cpu", "hyperscan (background)")


def _once(paths: Sequence[Path], cache: ArtefactCache) -> dict[str, float]:
    phases = Phases()
    start, cpu = time.perf_counter(), time.process_time()
    pack = load_packs(paths, cache=cache, phases=phases)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    pack.regexes.wait()
    background = time.perf_counter() - start - total
    return {**{p: phases.get(p, 0.0) for p in PHASES}, "total": total, "cpu": cpu,
            "hyperscan (background)": background}  # fmt: skip


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
        mode: {k: statistics.median(r[k] for r in rs) for k in ROWS} for mode, rs in runs.items()
    }
    pack = load_packs(paths, cache=ArtefactCache(None))
    pack.regexes.wait()
    result["pack"] = {
        "files": len(pack.files), "rules": len(pack.rules), "terms": pack.term_count,
        "regexes": len(pack.regexes.specs), "repeats": repeats,
    }  # fmt: skip
    table = Table(title=f"compile: {', '.join(map(str, paths))} (median of {repeats}, seconds)")
    table.add_column("phase")
    table.add_column("cold", justify="right")
    table.add_column("warm cache", justify="right")
    for phase in ROWS:
        table.add_row(phase, f"{result['cold'][phase]:.3f}", f"{result['warm'][phase]:.3f}")
    console.print(table)
    info = result["pack"]
    console.print(
        f"{info['files']} files, {info['rules']} rules, {info['terms']} terms, "
        f"{info['regexes']} regexes in use"
    )
    return result
