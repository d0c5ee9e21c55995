"""`screener bench scan`: the `screener scan --text` command, end to end, against a plain script.

Users meet the product through the command, start-up included, so this times real
subprocesses, not the engine in-process: the same generated lines go to `screener scan
--text FILE` and to `PLAIN_SCRIPT` (NFKC + casefold + pyahocorasick over a sensitive-word
list, one JSON line per message — what someone would write instead of using screener),
taking turns (A B, B A, …) so both see the same machine. Output goes to files, so the
flagged counts are printed next to the rates: a faster contender that finds nothing is
visible as such.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from screener.measure.bench import machine
from screener.synthetic import corpus

DEFAULT_LEXICON = Path("../shared/datasets/lexicons/houbb_sensitive_word_tagged.tsv")
"""The plain script's list when present (houbb/sensitive-word, ~44k terms); otherwise a
generated list of `GENERATED_TERMS` is written and used (the output says which)."""
GENERATED_TERMS = 64_000

PLAIN_SCRIPT = '''\
"""The plain alternative to `screener scan --text`: NFKC + casefold + pyahocorasick."""
import json, sys, unicodedata

import ahocorasick

automaton = ahocorasick.Automaton()
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        term = line.split("\\t", 1)[0].strip()
        key = unicodedata.normalize("NFKC", term).casefold() if term != "word" else ""
        if key:
            automaton.add_word(key, key)
automaton.make_automaton()
write = sys.stdout.write
with open(sys.argv[2], encoding="utf-8") as lines:
    for n, line in enumerate(lines, 1):
        folded = unicodedata.normalize("NFKC", line.rstrip("\\n")).casefold()
        terms = [key for _, key in automaton.iter(folded)]
        write(json.dumps({"line": n, "flagged": bool(terms), "terms": terms},
                         ensure_ascii=False) + "\\n")
'''


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    lines_out: int
    flagged: int


def _run(argv: Sequence[str], out_path: Path, flagged_marker: bytes) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out_path, "wb") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} … exited {done.returncode}: "
                           f"{done.stderr.decode(errors='replace')[-2000:]}")  # fmt: skip
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    data = out_path.read_bytes()
    return Run(wall, cpu, data.count(b"\n"), data.count(flagged_marker))


def _median_cpu(runs: Sequence[Run]) -> float:
    return statistics.median(r.cpu_s for r in runs)


def scan_command(lines: Path, rules: Sequence[Path] = (), model: Path | None = None) -> list[str]:
    """The command users run (this interpreter's screener, so the installed one)."""
    argv = [sys.executable, "-m", "screener", "scan", "--text"]
    for r in rules:
        argv += ["--rules", str(r)]
    if model is not None:
        argv += ["--model", str(model)]
    return [*argv, str(lines)]


def bench_scan(
    *,
    lines: int,
    repeats: int,
    console: Console,
    lexicon: Path | None = None,
    rules: Sequence[Path] = (),
    model: Path | None = None,
) -> dict[str, object]:
    """`repeats` timed runs of each contender, alternating, after one untimed warm-up each
    (the first `screener scan` on a machine compiles the packs cold and fills the cache)."""
    with tempfile.TemporaryDirectory(prefix="screener-bench-scan-") as tmp:
        work = Path(tmp)
        input_path = work / "lines.txt"
        texts = corpus.messages(lines)
        input_path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        chars = sum(map(len, texts)) / max(1, len(texts))
        terms_path = lexicon if lexicon is not None else DEFAULT_LEXICON
        if not terms_path.is_file():
            if lexicon is not None:
                raise FileNotFoundError(f"lexicon not found: {lexicon}")
            terms_path = work / "lexicon.txt"
            terms_path.write_text("\n".join(corpus.lexicon(GENERATED_TERMS)) + "\n", "utf-8")
        script = work / "plain_scan.py"
        script.write_text(PLAIN_SCRIPT, encoding="utf-8")
        contenders = {
            "screener scan --text": (scan_command(input_path, rules, model), b'"flagged":true'),
            "plain script (NFKC + pyahocorasick)": (
                [sys.executable, str(script), str(terms_path), str(input_path)],
                b'"flagged": true',
            ),
        }
        names = list(contenders)
        runs: dict[str, list[Run]] = {name: [] for name in names}
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("bench scan", total=(repeats + 1) * len(names))
            for r in range(repeats + 1):
                order = names if r % 2 == 0 else names[::-1]  # A B, B A, …: same machine
                for name in order:
                    argv, marker = contenders[name]
                    run = _run(argv, work / "out.jsonl", marker)
                    if r > 0:  # round 0 warms caches (packs, page cache) and is not timed
                        runs[name].append(run)
                    progress.advance(task)
        for name in names:
            got = {run.lines_out for run in runs[name]}
            if got != {lines}:
                raise RuntimeError(f"{name} printed {sorted(got)} lines for {lines} input lines")
    ours, plain = (runs[n] for n in names)
    rounds = [p.wall_s / o.wall_s for o, p in zip(ours, plain, strict=True)]
    result: dict[str, object] = {
        "machine": machine(),
        # `screener scan` forks one worker per CPU it may use (`--jobs` default); the plain
        # script is one process, as anyone would write it: so both wall and CPU ratios
        "scan_jobs": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg()[0],
        "lines": lines,
        "mean_chars": round(chars, 1),
        "repeats": repeats,
        "plain_lexicon": str(terms_path)
        if terms_path.parent != work
        else f"generated ({GENERATED_TERMS} terms)",
        "contenders": {
            name: {
                "msgs_per_s": round(lines / statistics.median(r.wall_s for r in runs[name])),
                "wall_s": [round(r.wall_s, 3) for r in runs[name]],
                "cpu_s": [round(r.cpu_s, 3) for r in runs[name]],
                "flagged": runs[name][0].flagged,
            }
            for name in names
        },
        "ratio": round(statistics.median(rounds), 2),
        "ratio_per_round": [round(x, 2) for x in rounds],
        "cpu_ratio": round(_median_cpu(plain) / _median_cpu(ours), 2),
    }
    table = Table(title=f"screener bench scan — {lines:,} lines of ~{chars:.0f} chars, "
                  f"{result['machine']}")  # fmt: skip
    for column in ("contender", "msgs/s (median)", "wall s", "cpu s", "flagged"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name in names:
        row = result["contenders"][name]  # type: ignore[index]
        walls, cpus = (" ".join(f"{x:.2f}" for x in row[k]) for k in ("wall_s", "cpu_s"))
        table.add_row(name, f"{row['msgs_per_s']:,}", walls, cpus, f"{row['flagged']:,}")
    console.print(table)
    console.print(
        f"screener scan / plain script = {result['ratio']}× wall (per round "
        f"{result['ratio_per_round']}), {result['cpu_ratio']}× CPU; plain lexicon: "
        f"{result['plain_lexicon']}; load average {result['load_average']:.1f}; screener "
        f"scan ran {result['scan_jobs']} worker process(es) (--jobs default: the CPUs it may "
        "use), the plain script one"
    )
    return result
