"""`screener bench engine` and `screener bench matchers`: throughput with numbers, side by side.

Each benchmark measures the contenders in the same process and run, so the ratio holds even
on a noisy shared machine; absolute figures carry the machine they came from.
"""

from __future__ import annotations

import importlib
import os
import platform
import random
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from screener.decode import decode_event
from screener.engine import Engine
from screener.errors import missing_module
from screener.events import Event, ParseError
from screener.match.lexicon import compile_pattern
from screener.rules import load_packs
from screener.runtime import tune_gc, young_threshold
from screener.state.behaviour import BehaviourState
from screener.synthetic import corpus
from screener.text.folding import build_folding
from screener.text.views import BatchText


@dataclass(frozen=True)
class Measurement:
    name: str
    messages: int
    seconds: float
    p50_us: float
    p99_us: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def read_lexicon(path: Path) -> list[str]:
    """First column of a text/TSV file (a `word` header line is skipped)."""
    terms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        term = line.split("\t", 1)[0].strip()
        if term and not term.startswith("#") and term != "word":
            terms.append(term)
    return terms


def _pack_with_lexicon(
    packs: Sequence[Path], terms: list[str], workdir: Path, model: Path | None = None
) -> Engine:
    folding = build_folding()
    usable = sorted({t for t in terms if compile_pattern(folding, t, "compact")})
    (workdir / "bench_lexicon.txt").write_text("\n".join(usable) + "\n", encoding="utf-8")
    # a low-score rule looks at the big lexicon, as an imported list would be used in production
    (workdir / "bench.yaml").write_text(
        "lexicons:\n  bench_lexicon:\n    file: bench_lexicon.txt\n"
        "rules:\n  - id: bench.lexicon\n    category: illicit_ads\n    score: 1\n"
        "    condition: hit(bench_lexicon)\n",
        encoding="utf-8",
    )
    return Engine(load_packs([*packs, workdir / "bench.yaml"], model=model))


def keyword_only(engine: Engine) -> Engine:
    """The same pack without its learned model: rules reading `model.*` see 0 and never fire."""
    pack = replace(engine.pack, model=None, model_floors=())
    return Engine(pack, max_text_chars=engine.max_text_chars)


TURN_BATCHES = 10
"""Batches a contender runs before the other takes its turn."""


def _optional(module: str, part: str, console: Console) -> Any:
    """`module` if installed; else None, after a note saying which part is skipped and why."""
    try:
        return importlib.import_module(module)
    except ImportError:
        console.print(
            f"note: {part} is skipped: it needs a package that is not installed "
            f"(`{missing_module(module)}`)"
        )
        return None


def _interleaved(
    contenders: Sequence[tuple[str, Callable[[int, int], object], int]],
    batch: int,
    progress: Progress,
) -> list[Measurement]:
    """Time each contender batch by batch, taking turns (A A … B B … A A …), so that both see
    the same machine: on a shared, noisy host the ratio stays meaningful even when absolute
    rates drift. Each contender runs over its own message count (`total`).

    A turn is `TURN_BATCHES` batches (well under a second), not one: switching after every
    batch evicts each contender's tables and automaton from the CPU caches, which a service
    screening batch after batch never suffers. Measured on the default engine benchmark,
    one-batch turns made the engine ~9% slower than running alone; ten-batch turns, ~2%.
    """
    tasks = [progress.add_task(name, total=total) for name, _, total in contenders]
    per_message: list[list[float]] = [[] for _ in contenders]
    spent = [0.0] * len(contenders)
    turn = batch * TURN_BATCHES
    turns = max(-(-total // turn) for _, _, total in contenders)
    for r in range(turns):
        for k, (_, work, total) in enumerate(contenders):
            for lo in range(r * turn, min(total, (r + 1) * turn), batch):
                hi = min(total, lo + batch)
                t0 = time.perf_counter()
                work(lo, hi)
                dt = time.perf_counter() - t0
                spent[k] += dt
                per_message[k].append(dt / (hi - lo) * 1e6)
                progress.advance(tasks[k], hi - lo)
    return [
        Measurement(name, total, spent[k], statistics.median(per_message[k]),
                    _percentile(per_message[k], 0.99))
        for k, (name, _, total) in enumerate(contenders)
    ]  # fmt: skip


def _stream(texts: Sequence[str], users: int = 50_000, groups: int = 20_000) -> list[Event]:
    """The corpus as a chat stream: Zipf-ish users and groups, 1,000 msgs/s of event time,
    an image on one message in twenty (what per-user windows and campaigns work on).

    Each event is encoded to JSON and decoded by `screener.decode.decode_event`, the decoder
    the service and `screener scan` hand the engine their events from (before any timing):
    the engine reads fields of these lean structs at their cost, not a pydantic model's
    (~0.1 µs a field read, which overstated the behaviour signals' cost per event)."""
    rng = random.Random(5)
    out: list[Event] = []
    image = [{"type": "image"}]
    for i, t in enumerate(texts):
        raw = msgspec.json.encode({
            "kind": "chat", "id": str(i), "ts": 1_724_515_200_000 + i,
            "user": {"id": f"u{int(users ** rng.random())}", "account_age_days": 100},
            "text": t, "media": image if i % 20 == 0 else [],
            "conversation": {"id": f"g{int(groups ** rng.random())}", "type": "group"},
        })  # fmt: skip
        event = decode_event(raw)
        if isinstance(event, ParseError):  # generated by us: a bug, not bad input
            raise AssertionError(f"bench event {i} does not decode: {event}")
        out.append(event)
    return out


def bench_engine(
    packs: Sequence[Path],
    *,
    lexicon_file: Path | None,
    lexicon_size: int,
    messages: int,
    batch: int,
    baseline_messages: int,
    console: Console,
    model: Path | None = None,
) -> dict[str, object]:
    """Engine (full normalisation, default packs + big lexicon) vs NFKC + pyahocorasick loop;
    with a learned model (the packs' own or `model`), also the same engine keyword-only.
    Without pyahocorasick (a dev-only dependency) the baseline is skipped with a note."""
    ahocorasick = _optional("ahocorasick", "the NFKC + pyahocorasick baseline", console)

    terms = read_lexicon(lexicon_file) if lexicon_file else corpus.lexicon(lexicon_size)
    texts = corpus.messages(messages)
    events = _stream(texts)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        engine = _pack_with_lexicon(packs, terms, Path(tmp), model)
        build_s = time.perf_counter() - t0
    plain = keyword_only(engine) if engine.pack.model is not None else None
    if ahocorasick is not None:
        baseline = ahocorasick.Automaton()
        for term in terms:
            key = unicodedata.normalize("NFKC", term).casefold()
            if key:
                baseline.add_word(key, key)
        baseline.make_automaton()

    def run_engine(lo: int, hi: int) -> object:
        return engine.screen(events[lo:hi])

    state = BehaviourState(engine.pack.behaviour) if engine.pack.behaviour else None

    def run_stateful(lo: int, hi: int) -> object:
        verdicts, updates = engine.screen_stateful(events[lo:hi], state)
        if state is not None and updates is not None:
            state.apply(updates)
        return verdicts

    def run_plain(lo: int, hi: int) -> object:
        assert plain is not None
        return plain.screen(events[lo:hi])

    def run_baseline(lo: int, hi: int) -> object:
        found = 0
        for text in texts[lo:hi]:
            folded = unicodedata.normalize("NFKC", text).casefold()
            for _ in baseline.iter(folded):
                found += 1
        return found

    tune_gc(young_threshold(batch))  # as the service does after start-up
    run_engine(0, min(batch, messages))  # warm-up: first-use caches
    flagged = sum(v.flagged for v in engine.screen(events[: min(messages, 20_000)]))
    contenders: list[tuple[str, Callable[[int, int], object], int]] = [
        ("engine.screen" + (" (with model)" if plain else ""), run_engine, messages),
        ("engine + behaviour signals", run_stateful, messages),
    ]
    if ahocorasick is not None:
        contenders.append(
            ("NFKC + pyahocorasick loop", run_baseline, min(baseline_messages, messages))
        )
    if plain is not None:
        run_plain(0, min(batch, messages))
        contenders.insert(1, ("engine.screen (keyword-only)", run_plain, messages))
    with Progress(console=console, transient=True) as progress:
        measured = _interleaved(contenders, batch, progress)
    base = measured[-1] if ahocorasick is not None else None
    ours, signals = measured[0], measured[2 if plain is not None else 1]
    keywords = measured[1] if plain is not None else None
    result = {
        "machine": machine(),
        "lexicon_terms": engine.pack.term_count,
        "rules": len(engine.pack.rules),
        "pack_build_seconds": round(build_s, 2),
        "batch": batch,
        "flagged_share": round(flagged / min(messages, 20_000), 4),
        "engine": {**asdict(ours), "msgs_per_s": round(ours.rate)},
        "baseline": {**asdict(base), "msgs_per_s": round(base.rate)} if base else None,
        "speedup": round(ours.rate / base.rate, 2) if base and base.rate else None,
        "with_signals": {**asdict(signals), "msgs_per_s": round(signals.rate)},
        "signals_ratio": round(signals.rate / ours.rate, 3) if ours.rate else None,
        "signals": sorted(w.name for w in engine.pack.behaviour.windows),
    }
    if keywords is not None:
        assert engine.pack.model is not None
        result["model"] = engine.pack.model.version
        result["keyword_only"] = {**asdict(keywords), "msgs_per_s": round(keywords.rate)}
        result["model_vs_keyword_only"] = round(ours.rate / keywords.rate, 3)
    table = Table(title=f"screener bench engine — {result['machine']}")
    for column in ("contender", "msgs/s", "p50 µs/msg", "p99 µs/msg"):
        table.add_column(column, justify="right" if column != "contender" else "left")
    for m in measured:
        table.add_row(m.name, f"{m.rate:,.0f}", f"{m.p50_us:.2f}", f"{m.p99_us:.2f}")
    console.print(table)
    console.print(
        f"lexicon {result['lexicon_terms']:,} terms, {result['rules']} rules, batch {batch}, "
        f"{result['flagged_share']:.1%} flagged"
        + (f"; engine/baseline = {result['speedup']}×" if base else "; no baseline")
        + f"; with behaviour signals {result['signals_ratio']:.0%} of without"
    )
    if keywords is not None:
        console.print(f"with model / keyword-only = {result['model_vs_keyword_only']:.2f}")
    return result


def bench_matchers(
    terms: list[str], messages: int, batch: int, console: Console
) -> dict[str, object]:
    """The same lexicon over the same compact batch text: daachorse vs ahocorasick_rs vs
    Hyperscan vs pyahocorasick. Reports msgs/s of the matching step alone and the build time."""
    import ahocorasick_rs

    ahocorasick = _optional("ahocorasick", "the pyahocorasick contender", console)

    folding = build_folding()
    patterns = sorted({p for t in terms if (p := compile_pattern(folding, t, "compact"))})
    texts = corpus.messages(messages)
    haystacks = [
        BatchText.build(folding, texts[lo : lo + batch]).view("compact")
        for lo in range(0, messages, batch)
    ]
    contenders: list[tuple[str, Callable[[], Callable[[str], int]]]] = []

    def rs() -> Callable[[str], int]:
        ac = ahocorasick_rs.AhoCorasick(patterns)
        return lambda h: len(ac.find_matches_as_indexes(h, overlapping=True))

    def pyac() -> Callable[[str], int]:
        automaton = ahocorasick.Automaton()
        for p in patterns:
            automaton.add_word(p, p)
        automaton.make_automaton()
        return lambda h: sum(1 for _ in automaton.iter(h))

    contenders.append(("ahocorasick_rs (overlapping)", rs))
    if ahocorasick is not None:
        contenders.append(("pyahocorasick", pyac))
    try:
        import daachorse

        def daac() -> Callable[[str], int]:
            ac = daachorse.CharwiseDoubleArrayAhoCorasick(patterns)
            return lambda h: len(ac.find_overlapping(h))

        contenders.insert(0, ("daachorse (charwise, overlapping)", daac))
    except ImportError:
        console.print("daachorse not installed: skipped")
    try:
        import hyperscan

        def hs() -> Callable[[str], int]:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            encoded = [p.encode() for p in patterns]
            db.compile(
                expressions=encoded, ids=list(range(len(encoded))), elements=len(encoded),
                flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(encoded), literal=True,
            )  # fmt: skip

            def scan(h: str) -> int:
                found: list[int] = []
                db.scan(h.encode(), match_event_handler=lambda i, *_: found.append(i))
                return len(found)

            return scan

        contenders.append(("hyperscan (literal, SOM)", hs))
    except ImportError:
        console.print("hyperscan not installed: skipped")
    rows: list[dict[str, str | int | float]] = []
    for name, build in contenders:
        t0 = time.perf_counter()
        fn = build()
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        hits = sum(fn(h) for h in haystacks)
        spent = time.perf_counter() - t0
        rows.append({"matcher": name, "build_s": round(built, 2), "hits": hits,
                     "msgs_per_s": round(messages / spent)})  # fmt: skip
    table = Table(title=f"screener bench matchers — {len(patterns):,} terms, {machine()}")
    for column in ("matcher", "build s", "hits", "msgs/s"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["matcher"]), str(row["build_s"]), str(row["hits"]),
                      f"{row['msgs_per_s']:,}")  # fmt: skip
    console.print(table)
    return {"machine": machine(), "terms": len(patterns), "results": rows}
