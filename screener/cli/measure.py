"""`screener eval` and `screener bench`: detection quality on labelled data, and speed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from screener.cli.common import MODEL_HELP, RULES_HELP, command, rule_paths

BEHAVIOUR_TARGETS = ("bank", "state", "campaigns")
"""bench targets run by `screener.banks.cli.run_bench`."""


def register(sub: Any) -> None:
    evaluate = command(sub, "eval", "precision/recall/FPR of packs on labelled TSV corpora",
                       _eval, add_help=False)  # fmt: skip
    # listed here; `main` hands `eval …` to evaluate's own parser (see there)
    evaluate.add_argument("args", nargs=argparse.REMAINDER)
    command(sub, "bench", "benchmarks: msgs/s and latency percentiles", _bench, _bench_arguments)


def _bench_arguments(bench: argparse.ArgumentParser) -> None:
    bench.add_argument(
        "target",
        choices=["engine", "matchers", "pipeline", "compile", "scan", *BEHAVIOUR_TARGETS],
    )
    bench.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    bench.add_argument("--model", metavar="DIR", help=MODEL_HELP)
    bench.add_argument("--lexicon", help="term list (first TSV column) instead of a generated one")
    bench.add_argument("--lexicon-size", type=int, default=50_000)
    bench.add_argument("--messages", type=int, default=200_000)
    bench.add_argument("--batch", type=int, default=1000)
    bench.add_argument("--baseline-messages", type=int, default=50_000)
    bench.add_argument("--json", action="store_true", help="also print the result as JSON")
    bench.add_argument("--repeats", type=int, default=5,
                       help="compile: runs per mode; scan: timed runs per contender")  # fmt: skip
    scan = bench.add_argument_group(
        "scan (--lexicon: the plain script's list, default ../shared/datasets/lexicons/houbb…)"
    )
    scan.add_argument("--lines", type=int, default=300_000, help="scan: generated input lines")
    pipe = bench.add_argument_group("pipeline")
    pipe.add_argument("--bootstrap-servers", help="broker to use (default: an embedded Tansu)")
    pipe.add_argument("--workers", type=int, default=2, help="N for the N-worker contender")
    pipe.add_argument("--broker", choices=("tansu", "kafka"), default="tansu",
                      help="embedded Tansu, or Apache Kafka from the Maven jars")  # fmt: skip
    pipe.add_argument("--kafka-log", choices=("memory", "disk"), default="memory",
                      help="with --broker kafka: its log in memory (/dev/shm, as Tansu keeps "
                      "it) or on this host's disk")  # fmt: skip
    pipe.add_argument("--rounds", type=int, default=1, help="turns each contender takes")
    pipe.add_argument("--rate", type=float, help="msgs/s fed for latency (default: a share)")
    pipe.add_argument("--latency-share", type=float, default=0.5,
                      help="latency feed as a share of each contender's measured rate")  # fmt: skip
    pipe.add_argument("--duration", type=float, default=5.0, help="seconds fed for latency")
    pipe.add_argument("--quix-python", metavar="PATH",
                      help="interpreter with quixstreams for the Quix contender")  # fmt: skip
    pipe.add_argument("--partitions", type=int,
                      help="bench topics' partitions (default 6, or --workers)")  # fmt: skip
    pipe.add_argument("--sweep", action="append", metavar="SETTING=V1,V2",
                      help="add a 1-worker screener contender per value of a `run` setting "
                      "(e.g. fetch_max_wait_ms=5,20; repeatable)")  # fmt: skip
    group = bench.add_argument_group("bank, state, campaigns")
    group.add_argument("--size", type=int, default=1_000_000, help="bank: hashes in the bank")
    group.add_argument("--queries", type=int, default=10_000, help="bank: queries of each kind")
    group.add_argument("--distance", type=int, default=31, help="bank: Hamming radius")
    group.add_argument("--sample", type=int, default=100, help="bank: checked by brute force")
    group.add_argument("--users", type=int, default=5_000_000, help="state: distinct users")
    group.add_argument("--capacity", type=int, default=1_000_000, help="state: hard cap")
    group.add_argument("--unrelated", help="campaigns: TSV of real texts (last column), e.g. "
                       "../shared/datasets/labelled/cold_dev.tsv")  # fmt: skip


def _eval(args: argparse.Namespace) -> int:
    from screener.measure import evaluate

    return evaluate.main(args.args)


def _bench(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console

    if args.target in BEHAVIOUR_TARGETS:
        from screener.banks.cli import run_bench

        return run_bench(args)
    from screener.measure import bench

    console = Console(stderr=args.json)
    if args.target == "scan":
        from screener.measure.bench_scan import bench_scan

        result = bench_scan(
            lines=args.lines, repeats=args.repeats, console=console,
            lexicon=Path(args.lexicon) if args.lexicon else None,
            rules=[Path(p) for p in args.rules or ()],
            model=Path(args.model) if args.model else None,
        )  # fmt: skip
    elif args.target == "pipeline":
        from screener.measure.bench_pipeline import bench_pipeline, parse_sweep

        try:
            sweep = [parse_sweep(spec) for spec in args.sweep or ()]
        except ValueError as exc:
            print(f"screener bench pipeline: {exc}", file=sys.stderr)
            return 2
        result = bench_pipeline(
            bootstrap_servers=args.bootstrap_servers, messages=args.messages,
            workers=args.workers, rules=[Path(p) for p in args.rules or ()], rate=args.rate,
            duration=args.duration, console=console, broker=args.broker, rounds=args.rounds,
            latency_share=args.latency_share, quix=args.quix_python, sweep=sweep,
            partitions=args.partitions, kafka_log=args.kafka_log,
        )  # fmt: skip
    elif args.target == "compile":
        from screener.rules.bench import bench_compile

        result = bench_compile(rule_paths(args.rules), args.repeats, console)
    elif args.target == "engine":
        result = bench.bench_engine(
            rule_paths(args.rules),
            lexicon_file=Path(args.lexicon) if args.lexicon else None,
            lexicon_size=args.lexicon_size, messages=args.messages, batch=args.batch,
            baseline_messages=args.baseline_messages, console=console,
            model=Path(args.model) if args.model else None,
        )  # fmt: skip
    else:
        from screener.synthetic import corpus

        terms = (
            bench.read_lexicon(Path(args.lexicon))
            if args.lexicon
            else corpus.lexicon(args.lexicon_size)
        )
        result = bench.bench_matchers(terms, args.messages, args.batch, console)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return 0
