"""What updating the metrics costs, relative to screening the same batch.

    python -m screener.measure.metrics_bench [--messages N] [--batch B ...] [--json]

For every batch it times the pure part of the worker's batch (`screen_records`: decode,
screen, build output records and the batch's report) and then the metrics calls the worker
makes for that batch (`batch_started`, `batch_finished`), in the same loop, so the ratio
holds on a noisy machine. It runs twice: in-process values (one worker serving its own registry) and
prometheus-client multiprocess mode (mmap files, as under `--workers N`), the latter in a
child process because the value class is chosen when prometheus-client is imported. The
real worker also waits for Kafka per batch, so the share in production is lower still.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson


def _records(n: int, seed: int = 7) -> list[Any]:
    from screener.kafka import ConsumerRecord
    from screener.synthetic import corpus

    now_ms = int(time.time() * 1000)
    out: list[Any] = []
    for i, text in enumerate(corpus.messages(n, seed=seed, violating_share=0.08)):
        value = orjson.dumps(
            {"kind": "chat" if i % 3 else "microblog", "id": f"b-{i}", "ts": now_ms,
             "user": {"id": f"u{i % 997}"}, "text": text}
        ) if i % 500 != 499 else b"{broken"  # fmt: skip
        key = f"u{i % 997}".encode()
        ts = now_ms - (i * 997) % 500  # spread, out of order: harder than real batches
        out.append(ConsumerRecord("chat.events", i % 6, i, ts, 0, key, value, None, 0,
                                  len(value), []))  # fmt: skip
    return out


def measure(messages: int, batch: int, rounds: int) -> dict[str, float | int | str]:
    from screener.engine import Engine
    from screener.metrics import Metrics
    from screener.pipeline.settings import Settings
    from screener.pipeline.transform import screen_records
    from screener.rules import load_packs

    settings = Settings()
    engine = Engine(load_packs([Path(str(resources.files("screener") / "packs"))]))
    metrics = Metrics.for_settings(settings)
    metrics.rules_loaded(engine.pack.version)
    records = _records(messages)
    batches = [records[i : i + batch] for i in range(0, len(records), batch)]
    screen_records(engine, batches[0], settings)  # warm up
    screening = accounting = 0.0
    for _ in range(rounds):
        for chunk in batches:
            t0 = time.perf_counter()
            metrics.batch_started(len(chunk))
            t1 = time.perf_counter()
            screened = screen_records(engine, chunk, settings)
            t2 = time.perf_counter()
            report = screened.report
            report.screen_seconds, report.acked_at = t2 - t1, time.time()
            metrics.batch_finished(report)
            t3 = time.perf_counter()
            screening += t2 - t1
            accounting += (t1 - t0) + (t3 - t2)
    n_batches = rounds * len(batches)
    return {
        "mode": "multiprocess" if metrics.multiprocess else "in-process",
        "batch": batch,
        "batches": n_batches,
        "screen_us_per_batch": screening / n_batches * 1e6,
        "metrics_us_per_batch": accounting / n_batches * 1e6,
        "metrics_ns_per_event": accounting / (rounds * messages) * 1e9,
        "overhead_pct": accounting / screening * 100,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--batch", type=int, action="append", help="default: 2000, 500, 100")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.batch or [2000, 500, 100]
    if args.child:  # one mode, results as JSON lines
        for size in sizes:
            print(orjson.dumps(measure(args.messages, size, args.rounds)).decode(), flush=True)
        return 0
    results = []
    with tempfile.TemporaryDirectory() as multiproc:
        for env_extra in ({}, {"PROMETHEUS_MULTIPROC_DIR": multiproc}):
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            cmd = [sys.executable, "-m", "screener.measure.metrics_bench", "--child",
                   "--messages", str(args.messages), "--rounds", str(args.rounds),
                   *[a for s in sizes for a in ("--batch", str(s))]]  # fmt: skip
            out = subprocess.run(
                cmd, env=env | env_extra, check=True, capture_output=True, text=True
            ).stdout
            results += [orjson.loads(line) for line in out.splitlines() if line.strip()]
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"{'mode':<13}{'batch':>6}{'screen µs/batch':>17}{'metrics µs/batch':>18}"
          f"{'ns/event':>10}{'overhead':>10}")  # fmt: skip
    for r in results:
        print(f"{r['mode']:<13}{r['batch']:>6}{r['screen_us_per_batch']:>17,.0f}"
              f"{r['metrics_us_per_batch']:>18,.1f}{r['metrics_ns_per_event']:>10,.0f}"
              f"{r['overhead_pct']:>9.2f}%")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
