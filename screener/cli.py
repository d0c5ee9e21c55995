"""The `screener` command line (DESIGN.md CLI contract): wiring only, no logic of its own."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson
from rich.console import Console

from screener.rules import PackError, RulePack, load_packs

if TYPE_CHECKING:
    from screener.pipeline.settings import Settings


RULES_HELP = "pack file or directory (repeatable; default: the shipped packs)"


def default_packs() -> Path:
    """The packs shipped with the package (`seeds/rules` in the source tree)."""
    return Path(str(resources.files("screener") / "packs"))


def _load(paths: Sequence[str] | None) -> RulePack:
    return load_packs(list(paths) if paths else [default_packs()])


def _cmd_scan(args: argparse.Namespace) -> int:
    from screener.engine import Engine
    from screener.tools.scan import scan

    engine = Engine(_load(args.rules), max_text_chars=args.max_text_chars)
    out = sys.stdout.buffer
    streams: list[BinaryIO] = []
    try:
        streams = [open(f, "rb") for f in args.files] if args.files else [sys.stdin.buffer]  # noqa: SIM115
        for verdict in scan(engine, streams, as_text=args.text):
            out.write(verdict.to_json() + b"\n")
    except BrokenPipeError:
        return 0
    finally:
        for s in streams:
            if s is not sys.stdin.buffer:
                s.close()
    out.flush()
    return 0


def _cmd_rules_check(args: argparse.Namespace) -> int:
    pack = _load(args.paths)
    print(
        f"ok: {len(pack.files)} files, {len(pack.lexicon_names)} lexicons, "
        f"{pack.term_count} terms, {len(pack.rules)} rules ({len(pack.disabled)} disabled), "
        f"{len(pack.regexes.specs)} regexes in use; version {pack.version}"
    )
    return 0


def _cmd_rules_test(args: argparse.Namespace) -> int:
    from screener.rules.examples import run_examples

    results = run_examples(_load(args.paths))
    failed = [r for r in results if not r.ok]
    for r in failed:
        want = "to match" if r.expect_match else "not to match"
        why = f" ({r.error})" if r.error else ""
        print(f"{r.origin}: rule {r.rule}: expected {want}: {r.example!r}{why}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from screener.tools import bench

    console = Console(stderr=args.json)
    if args.target == "engine":
        result = bench.bench_engine(
            [Path(p) for p in args.rules] if args.rules else [default_packs()],
            lexicon_file=Path(args.lexicon) if args.lexicon else None,
            lexicon_size=args.lexicon_size, messages=args.messages, batch=args.batch,
            baseline_messages=args.baseline_messages, console=console,
        )  # fmt: skip
    else:
        from screener.tools import corpus

        terms = (
            bench.read_lexicon(Path(args.lexicon))
            if args.lexicon
            else corpus.lexicon(args.lexicon_size)
        )
        result = bench.bench_matchers(terms, args.messages, args.batch, console)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def default_samples() -> Path:
    """The sample traffic shipped with the package (`seeds/events` in the source tree)."""
    return Path(str(resources.files("screener") / "samples"))


def _settings(args: argparse.Namespace) -> Settings:
    from screener.pipeline.settings import Settings, load_settings

    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    return load_settings(Path(args.config) if args.config else None, overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    import logging
    import os

    from screener.pipeline.service import load_rules, run_worker
    from screener.pipeline.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # A stop asked for while still starting up (nothing consumed yet) is a clean exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = _settings(args)
    pack = load_rules(settings, default_packs())  # refuse bad packs before anything starts
    if settings.workers > 1:
        argv = [sys.executable, "-m", "screener", *sys.argv[1:]]
        return Supervisor(
            argv, settings.workers, shutdown_timeout_s=settings.shutdown_timeout_s + 5
        ).run()
    return run_worker(settings, pack, int(os.environ.get("SCREENER_WORKER_INDEX", "0")))


def _cmd_broker(args: argparse.Namespace) -> int:
    from screener.brokers.tansu import run_foreground

    return run_foreground(args.port)


def _cmd_demo(args: argparse.Namespace) -> int:
    from screener.tools.demo import run_demo

    samples = Path(args.samples) if args.samples else default_samples()
    return run_demo(_load(args.rules), samples, args.duration, args.rate)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="screener", description="Streaming message screening for chat and microblog traffic."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="screen JSONL events (or --text lines); verdicts on stdout")
    scan.add_argument("files", nargs="*", help="input files (default: stdin)")
    scan.add_argument("--text", action="store_true", help="one plain message per line")
    scan.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    scan.add_argument("--max-text-chars", type=int, default=20_000)
    scan.set_defaults(func=_cmd_scan)

    rules = sub.add_parser("rules", help="validate rule packs or run their examples")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    for name, func, text in (
        ("check", _cmd_rules_check, "validate packs; errors name file:line"),
        ("test", _cmd_rules_test, "run every rule's inline examples"),
    ):
        p = rules_sub.add_parser(name, help=text)
        p.add_argument("paths", nargs="*", help="pack files or directories (default: shipped)")
        p.set_defaults(func=func)

    run = sub.add_parser("run", help="the service: consumer-group workers over Kafka")
    run.add_argument("--config", help="YAML file of settings (flags and SCREENER_* env win)")
    from screener.pipeline.settings import Settings

    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        run.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                         help=f"default: {default}")  # fmt: skip
    run.set_defaults(func=_cmd_run)

    broker = sub.add_parser("broker", help="run the embedded broker (Tansu) in the foreground")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=_cmd_broker)

    demo = sub.add_parser("demo", help="embedded broker + sample traffic + a worker, live summary")
    demo.add_argument(
        "--duration", type=float, default=None, help="seconds (default: until Ctrl-C)"
    )
    demo.add_argument("--rate", type=float, default=2000.0, help="sample events per second")
    demo.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    demo.add_argument("--samples", help="directory of *.jsonl events (default: shipped samples)")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks: msgs/s and latency percentiles")
    bench.add_argument("target", choices=["engine", "matchers"])
    bench.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    bench.add_argument("--lexicon", help="term list (first TSV column) instead of a generated one")
    bench.add_argument("--lexicon-size", type=int, default=50_000)
    bench.add_argument("--messages", type=int, default=200_000)
    bench.add_argument("--batch", type=int, default=1000)
    bench.add_argument("--baseline-messages", type=int, default=50_000)
    bench.add_argument("--json", action="store_true", help="also print the result as JSON")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PackError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in rule packs", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
