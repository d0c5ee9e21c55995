"""The `screener` command line (contract: docs/contracts.md): wiring only, no logic of its own.

Long: one parser for every command, until it is split into a package per command group.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import orjson
from rich.console import Console

from screener import errors

if TYPE_CHECKING:
    from screener.pipeline.settings import Settings
    from screener.rules import RulePack


RULES_HELP = "pack file or directory (repeatable; default: the shipped packs)"


def default_packs() -> Path:
    """The packs shipped with the package (`seeds/rules` in the source tree)."""
    return Path(str(resources.files("screener") / "packs"))


def _load(
    paths: Sequence[str] | None, allow_external: bool = False, model: str | None = None
) -> RulePack:
    from screener.rules import load_packs  # imported on use: `--version` and help stay quick

    chosen = list(paths) if paths else [default_packs()]
    # allow_external None: the env decides
    return load_packs(chosen, allow_external=allow_external or None, model=model)


EXTERNAL_HELP = (
    "let packs read lexicon files outside their own directory "
    "(also SCREENER_RULES_ALLOW_EXTERNAL=1)"
)
MODEL_HELP = "learned-model directory replacing the one the packs declare"


def _cmd_scan(args: argparse.Namespace) -> int:
    from screener.engine import Engine
    from screener.runtime import tune_gc, young_threshold
    from screener.tools.scan import BATCH_LINES, scan

    out = sys.stdout.buffer
    streams: list[BinaryIO] = []
    try:
        # every input opened before the packs load: a mistyped path fails at once
        streams = [open(f, "rb") for f in args.files] if args.files else [sys.stdin.buffer]  # noqa: SIM115
        pack = _load(args.rules, args.allow_external_files, args.model)
        engine = Engine(pack, max_text_chars=args.max_text_chars)
        tune_gc(young_threshold(BATCH_LINES))
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
    pack = _load(args.paths, args.allow_external_files, args.model)
    print(
        f"ok: {len(pack.files)} files, {len(pack.lexicon_names)} lexicons, "
        f"{pack.term_count} terms, {len(pack.rules)} rules ({len(pack.disabled)} disabled), "
        f"{len(pack.regexes.specs)} regexes in use; version {pack.version}"
    )
    waiting = [r.id for r in pack.rules if any(ref.kind == "model" for ref in r.uses)]
    if waiting and pack.model is None:
        print(f"note: {len(waiting)} rules read model.* but no model is loaded (--model DIR): "
              "they never fire")  # fmt: skip
    elif pack.model is not None:
        print(f"model: {', '.join(pack.model.categories)} ({pack.model.version})")
    return 0


def _cmd_rules_test(args: argparse.Namespace) -> int:
    from screener.rules.examples import run_examples

    results = run_examples(_load(args.paths, args.allow_external_files, args.model))
    failed = [r for r in results if not r.ok]
    for r in failed:
        want = "to match" if r.expect_match else "not to match"
        why = f" ({r.error})" if r.error else ""
        print(f"{r.origin}: rule {r.rule}: expected {want}: {r.example!r}{why}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from screener.tools import evaluate

    return evaluate.main(args.args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from screener.banks.cli import BENCH_TARGETS, run_bench
    from screener.tools import bench

    if args.target in BENCH_TARGETS:
        return run_bench(args)
    console = Console(stderr=args.json)
    if args.target == "pipeline":
        from screener.tools.bench_pipeline import bench_pipeline

        result = bench_pipeline(
            bootstrap_servers=args.bootstrap_servers, messages=args.messages,
            workers=args.workers, rules=[Path(p) for p in args.rules or ()], rate=args.rate,
            duration=args.duration, console=console,
        )  # fmt: skip
    elif args.target == "compile":
        from screener.rules.bench import bench_compile

        rules = [Path(p) for p in args.rules] if args.rules else [default_packs()]
        result = bench_compile(rules, args.repeats, console)
    elif args.target == "engine":
        result = bench.bench_engine(
            [Path(p) for p in args.rules] if args.rules else [default_packs()],
            lexicon_file=Path(args.lexicon) if args.lexicon else None,
            lexicon_size=args.lexicon_size, messages=args.messages, batch=args.batch,
            baseline_messages=args.baseline_messages, console=console,
            model=Path(args.model) if args.model else None,
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

    from screener.pipeline.service import load_rules, rule_paths, run_worker, transactions_refused
    from screener.pipeline.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # A stop asked for while still starting up (nothing consumed yet) is a clean exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # SIGHUP reloads rules once a worker runs; before that it must not end the process
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    settings = _settings(args)
    pack = load_rules(settings, default_packs())  # refuse bad packs before anything starts
    if settings.workers > 1:
        if (refused := transactions_refused(settings)) is not None:
            print(f"error: {refused}", file=sys.stderr)  # before any worker starts
            return 2
        argv = [sys.executable, "-m", "screener", *sys.argv[1:]]
        return Supervisor(
            argv, settings.workers, shutdown_timeout_s=settings.shutdown_timeout_s + 5,
            metrics_port=settings.metrics_port, metrics_host=settings.metrics_host,
        ).run()  # fmt: skip
    index = int(os.environ.get("SCREENER_WORKER_INDEX", "0"))
    return run_worker(settings, pack, index, rule_paths(settings, default_packs()))


def _cmd_broker(args: argparse.Namespace) -> int:
    from screener.brokers.tansu import run_foreground

    return run_foreground(args.port)


def _cmd_demo(args: argparse.Namespace) -> int:
    from screener.tools.demo import run_demo

    samples = Path(args.samples) if args.samples else default_samples()
    return run_demo(lambda: _load(args.rules), samples, args.duration, args.rate,
                    args.metrics_port)  # fmt: skip


def _run_async(coro: Any) -> Any:
    """Run a tool's coroutine on uvloop where available."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _topics(values: Sequence[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def _cmd_record(args: argparse.Namespace) -> int:
    from screener.tools.record import RecordError, parse_time, record

    console = Console(stderr=True)
    try:
        summary = _run_async(record(
            _topics(args.topic), Path(args.out), args.bootstrap_servers,
            from_time=parse_time(args.from_time) if args.from_time else None,
            until=parse_time(args.until) if args.until else None, live=args.live,
            limit=args.limit, resume=args.resume, force=args.force, console=console,
        ))  # fmt: skip
    except (RecordError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    console.print(
        f"recorded {summary.records:,} records ({summary.total_records:,} in file, "
        f"{summary.file_bytes / 1e6:,.1f} MB) in {summary.elapsed_s:.1f}s, "
        f"{summary.rate:,.0f} msg/s; stopped by {summary.stopped_by}"
    )
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(summary.to_dict()) + b"\n")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from screener.kafka import MissingTopic
    from screener.tools.pacing import Pace
    from screener.tools.recording import RecordingError
    from screener.tools.replay import ReplayError, replay, summary_table

    console = Console(stderr=True)
    if args.max:
        pace = Pace()
    elif args.rate is not None:
        pace = Pace(rate=args.rate)
    else:
        pace = Pace(speed=args.speed if args.speed is not None else 1.0)
    try:
        summary = _run_async(replay(
            Path(args.file), args.bootstrap_servers, to_topic=args.to, pace=pace,
            rewrite_timestamps=args.rewrite_timestamps,
            preserve_partitions=args.preserve_partitions, limit=args.limit, acks=args.acks,
            compression=args.compression, console=console,
        ))  # fmt: skip
    except (ReplayError, RecordingError, MissingTopic, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    console.print(summary_table(summary))
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(summary.to_dict()) + b"\n")
    return 1 if summary.errors else 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from screener.tools import generate as gen
    from screener.tools.record import parse_time
    from screener.tools.traffic import DEFAULT_MIX

    console = Console(stderr=True)
    try:
        config = gen.GenConfig(
            seed=args.seed, users=args.users, conversations=args.conversations,
            offenders=args.offenders, microblog_share=args.microblog_share,
            violation_rate=args.violation_rate,
            mix=gen.parse_mix(args.mix) if args.mix else dict(DEFAULT_MIX),
            evasion_rate=args.evasion_rate, burst_every=args.burst_every,
            burst_size=args.burst_size, events_per_second=args.events_per_second,
            start_ms=parse_time(args.start_time) if args.start_time else gen.START_MS,
            id_prefix=args.id_prefix,
        )  # fmt: skip
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    generator = gen.Generator(config)
    items: Iterator[gen.Generated] = itertools.islice(generator, args.count)
    if args.preset:
        from screener.tools.presets import take

        items = take(generator, args.preset, args.count)
    labels = not args.no_labels
    chat_topic = args.topic or args.chat_topic
    microblog_topic = args.topic or args.microblog_topic
    if args.bank_out:
        Path(args.bank_out).write_text("".join(f"{h:064x}\n" for h in generator.bad_bank))
    if args.topic or args.to_kafka:
        from screener.kafka import MissingTopic

        try:
            sent, errors = _run_async(gen.produce(
                items, args.bootstrap_servers, chat_topic=chat_topic,
                microblog_topic=microblog_topic, labels=labels, rate=args.rate,
                event_time=args.event_time,
            ))  # fmt: skip
        except MissingTopic as exc:
            console.print(f"[red]error:[/] {exc}")
            return 2
        console.print(f"generated {sent:,} events to Kafka ({errors:,} errors)")
        return 1 if errors else 0
    out = args.out or "-"
    fmt = args.format or ("recording" if out.endswith(".screc") else "jsonl")
    if fmt == "recording":
        if out == "-":
            console.print("[red]error:[/] a recording needs --out FILE")
            return 2
        meta = {"generator": {**config.__dict__, "count": args.count}}
        n = gen.write_recording(items, Path(out), chat_topic=chat_topic,
                                microblog_topic=microblog_topic, partitions=args.partitions,
                                labels=labels, meta=meta)  # fmt: skip
    else:
        label_field = None if args.no_labels else args.label_field
        if out == "-":
            n = gen.write_jsonl(items, sys.stdout.buffer, label_field)
            sys.stdout.buffer.flush()
        else:
            with open(out, "wb") as fh:
                n = gen.write_jsonl(items, fh, label_field)
    console.print(f"generated {n:,} events to {out}")
    return 0


def _cmd_loadtest(args: argparse.Namespace) -> int:
    from screener.kafka import MissingTopic
    from screener.tools import loadtest, loadtest_report

    console = Console(stderr=True)
    try:
        cfg = loadtest.LoadTestConfig(
            bootstrap_servers=args.bootstrap_servers, input_topics=_topics([args.input_topics]),
            review_topic=args.review_topic, group_id=args.group_id,
            steps=[float(s) for s in _topics([args.steps])], step_seconds=args.step_seconds,
            warmup_seconds=args.warmup_seconds, drain_seconds=args.drain_seconds,
            metrics_urls=_topics(args.metrics_url or []),
            max_p99_ms=args.max_p99_ms, lag_tolerance_s=args.lag_tolerance_s,
            keep_going=args.keep_going, replay=Path(args.replay) if args.replay else None,
            pool_size=args.pool_size, seed=args.seed, violation_rate=args.violation_rate,
            acks=args.acks,
        )  # fmt: skip
        report = _run_async(loadtest.run_loadtest(cfg, console))
    except (ValueError, MissingTopic, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    out.print(loadtest_report.table(report))
    if args.json_out:
        Path(args.json_out).write_bytes(loadtest.dumps(report))
    if args.png_out:
        try:
            loadtest_report.png(report, Path(args.png_out))
        except ImportError:
            console.print("[red]error:[/] --png-out needs matplotlib (screener[loadtest])")
            return 2
    return 0


def _add_traffic_commands(sub: Any) -> None:
    """record / replay / generate / loadtest: the Kafka traffic tools."""
    servers_help = "Kafka bootstrap servers (default: $SCREENER_BOOTSTRAP_SERVERS, 127.0.0.1:9092)"

    rec = sub.add_parser("record", help="record Kafka topics into a compact, resumable file")
    rec.add_argument(
        "--topic", action="append", required=True, help="topic(s), repeatable or comma-separated"
    )
    rec.add_argument(
        "--out", required=True, help="recording file (.screc: zstd frames of binary records)"
    )
    rec.add_argument("--bootstrap-servers", help=servers_help)
    start = rec.add_mutually_exclusive_group()
    start.add_argument("--from-time", help="start at this time (ISO 8601, epoch ms or 'now')")
    start.add_argument("--live", action="store_true", help="start at the end and keep following")
    rec.add_argument("--until", help="stop each partition at its first record stamped later")
    rec.add_argument("--limit", type=int, help="stop after this many records")
    rec.add_argument("--resume", action="store_true", help="continue an interrupted recording")
    rec.add_argument("--force", action="store_true", help="replace an existing file")
    rec.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    rec.set_defaults(func=_cmd_record)

    rep = sub.add_parser("replay", help="produce a recording back to Kafka, paced")
    rep.add_argument("file", help="recording file")
    rep.add_argument("--to", help="target topic (default: each record's original topic)")
    rep.add_argument("--bootstrap-servers", help=servers_help)
    pace = rep.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="multiple of the original pace (default 1)")
    pace.add_argument("--rate", type=float, help="messages per second")
    pace.add_argument("--max", action="store_true", help="as fast as possible")
    rep.add_argument("--rewrite-timestamps", action="store_true", help="stamp records with now")
    rep.add_argument(
        "--preserve-partitions",
        action="store_true",
        help="send each record to the partition it was recorded from",
    )
    rep.add_argument("--limit", type=int, help="stop after this many records")
    rep.add_argument("--acks", default="all", choices=["0", "1", "all"])
    rep.add_argument(
        "--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"]
    )
    rep.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    rep.set_defaults(func=_cmd_replay)

    gen = sub.add_parser("generate", help="deterministic synthetic traffic with true labels")
    gen.add_argument("--count", type=int, default=10_000, help="events (default 10000)")
    gen.add_argument("--seed", type=int, default=1, help="same seed, same bytes")
    gen.add_argument("--out", help="file: .screc (recording) or JSONL (default: stdout)")
    gen.add_argument("--format", choices=["jsonl", "recording"], help="default: by --out suffix")
    gen.add_argument("--topic", help="produce everything to this Kafka topic")
    gen.add_argument(
        "--to-kafka", action="store_true", help="produce to --chat-topic / --microblog-topic"
    )
    gen.add_argument("--chat-topic", default="chat.events")
    gen.add_argument("--microblog-topic", default="microblog.events")
    gen.add_argument("--bootstrap-servers", help=servers_help)
    gen.add_argument("--rate", type=float, help="Kafka: messages per second (default: max)")
    gen.add_argument(
        "--event-time",
        action="store_true",
        help="Kafka: stamp records with the event time instead of now",
    )
    gen.add_argument("--partitions", type=int, default=6, help="recording: partitions per topic")
    gen.add_argument("--users", type=int, default=100_000)
    gen.add_argument("--conversations", type=int, default=50_000)
    gen.add_argument("--offenders", type=int, default=500, help="accounts that post violations")
    gen.add_argument("--microblog-share", type=float, default=0.3)
    gen.add_argument("--violation-rate", type=float, default=0.03, help="share of violations")
    gen.add_argument("--mix", help="category weights, e.g. solicitation=4,porn=3,fraud=1")
    gen.add_argument(
        "--evasion-rate",
        type=float,
        default=0.7,
        help="share of violations disguised with evasions",
    )
    gen.add_argument(
        "--burst-every",
        type=int,
        default=100_000,
        help="average events between image-spam bursts (0: none)",
    )
    gen.add_argument("--burst-size", type=int, default=2_000, help="posts per burst")
    gen.add_argument(
        "--events-per-second",
        type=float,
        default=1_000.0,
        help="simulated arrival rate (event timestamps)",
    )
    gen.add_argument("--start-time", help="first event time (ISO 8601 or epoch ms)")
    gen.add_argument("--id-prefix", default="g")
    gen.add_argument("--label-field", default="_label", help="JSONL: field for the label")
    gen.add_argument("--no-labels", action="store_true", help="no label header or field")
    gen.add_argument("--bank-out", help="write the known-bad PDQ hashes here, one per line")
    gen.add_argument(
        "--preset",
        choices=["image-flood", "advert-groups", "campaign-ring", "contact-only", "behaviour"],
        help="weave behaviour episodes (floods, campaigns, contact-only accounts) into the stream",
    )
    gen.set_defaults(func=_cmd_generate)

    lt = sub.add_parser("loadtest", help="drive a running screener at stepped rates; report")
    lt.add_argument("--bootstrap-servers", help=servers_help)
    lt.add_argument(
        "--input-topics",
        default="chat.events,microblog.events",
        help="where to send: chat to the first, microblog to the second",
    )
    lt.add_argument("--review-topic", default="screening.review")
    lt.add_argument("--group-id", default="screener", help="the service's consumer group (lag)")
    lt.add_argument(
        "--metrics-url", action="append", help="the service's /metrics (optional; repeatable)"
    )
    lt.add_argument("--steps", default="5000,10000,20000", help="msg/s per step, comma-separated")
    lt.add_argument("--step-seconds", type=float, default=10.0)
    lt.add_argument(
        "--warmup-seconds",
        type=float,
        default=3.0,
        help="unmeasured traffic at the first step's rate, drained before step 1",
    )
    lt.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="how long a step's backlog may take to drain",
    )
    lt.add_argument("--replay", help="send records of this recording instead of generated ones")
    lt.add_argument(
        "--pool-size",
        type=int,
        default=50_000,
        help="distinct events cycled (fresh event ids each time)",
    )
    lt.add_argument("--seed", type=int, default=1)
    lt.add_argument("--violation-rate", type=float, default=0.05)
    lt.add_argument("--max-p99-ms", type=float, default=5_000.0)
    lt.add_argument(
        "--lag-tolerance-s",
        type=float,
        default=1.0,
        help="lag at a step's end allowed, in seconds of its traffic",
    )
    lt.add_argument("--keep-going", action="store_true", help="run every step even after one fails")
    lt.add_argument("--acks", default="all", choices=["0", "1", "all"])
    lt.add_argument("--json-out", help="write the report as JSON")
    lt.add_argument("--png-out", help="write a chart (PNG; needs matplotlib)")
    lt.set_defaults(func=_cmd_loadtest)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (the usage block is what `--help` is for)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    import platform

    from screener import __version__

    parser = _Parser(
        prog="screener", description="Streaming message screening for chat and microblog traffic."
    )
    parser.add_argument(
        "--version", action="version",
        version=f"screener {__version__} (Python {platform.python_version()})",
    )  # fmt: skip
    parser.add_argument(
        "--debug", action="store_true",
        help=f"show tracebacks (also ${errors.DEBUG_ENV}=1); accepted anywhere on the line",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="screen JSONL events (or --text lines); verdicts on stdout")
    scan.add_argument("files", nargs="*", help="input files (default: stdin)")
    scan.add_argument("--text", action="store_true", help="one plain message per line")
    scan.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    scan.add_argument("--model", metavar="DIR", help=MODEL_HELP)
    scan.add_argument("--max-text-chars", type=int, default=20_000)
    scan.add_argument("--allow-external-files", action="store_true", help=EXTERNAL_HELP)
    scan.set_defaults(func=_cmd_scan)

    rules = sub.add_parser("rules", help="validate, test and publish rule packs; worker status")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    for name, func, text in (
        ("check", _cmd_rules_check, "validate packs; errors name file:line"),
        ("test", _cmd_rules_test, "run every rule's inline examples"),
    ):
        p = rules_sub.add_parser(name, help=text)
        p.add_argument("paths", nargs="*", help="pack files or directories (default: shipped)")
        p.add_argument("--allow-external-files", action="store_true", help=EXTERNAL_HELP)
        p.add_argument("--model", metavar="DIR", help=MODEL_HELP)
        p.set_defaults(func=func)
    from screener.reload.commands import add_rules_commands

    add_rules_commands(rules_sub)

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
    demo.add_argument("--metrics-port", type=int, default=9108, help="0 turns metrics off")
    demo.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    demo.add_argument("--samples", help="directory of *.jsonl events (default: shipped samples)")
    demo.set_defaults(func=_cmd_demo)

    evaluate = sub.add_parser(
        "eval", add_help=False, help="precision/recall/FPR of packs on labelled TSV corpora"
    )
    evaluate.add_argument("args", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=_cmd_eval)

    bench = sub.add_parser("bench", help="benchmarks: msgs/s and latency percentiles")
    bench.add_argument(
        "target",
        choices=["engine", "matchers", "pipeline", "compile", "bank", "state", "campaigns"],
    )
    bench.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    bench.add_argument("--model", metavar="DIR", help=MODEL_HELP)
    bench.add_argument("--lexicon", help="term list (first TSV column) instead of a generated one")
    bench.add_argument("--lexicon-size", type=int, default=50_000)
    bench.add_argument("--messages", type=int, default=200_000)
    bench.add_argument("--batch", type=int, default=1000)
    bench.add_argument("--baseline-messages", type=int, default=50_000)
    bench.add_argument("--json", action="store_true", help="also print the result as JSON")
    bench.add_argument("--repeats", type=int, default=5, help="compile: runs per mode")
    pipe = bench.add_argument_group("pipeline")
    pipe.add_argument("--bootstrap-servers", help="broker to use (default: an embedded Tansu)")
    pipe.add_argument("--workers", type=int, default=2, help="N for the N-worker contender")
    pipe.add_argument("--rate", type=float, default=10_000, help="msgs/s fed for latency")
    pipe.add_argument("--duration", type=float, default=5.0, help="seconds fed for latency")
    from screener.banks.cli import add_bench_arguments

    add_bench_arguments(bench)
    bench.set_defaults(func=_cmd_bench)
    _add_traffic_commands(sub)
    from screener.banks.cli import add_commands as add_behaviour_commands

    add_behaviour_commands(sub)
    from screener.model.cli import add_train_parser

    add_train_parser(sub)
    from screener.tools.lexicon_import import add_lexicon_parser

    add_lexicon_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; any failure is one line on stderr and a non-zero exit (errors.py)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    debug = errors.debug_requested(raw)
    raw = errors.strip_debug(raw)
    command: Callable[[], int]
    if raw[:1] == ["eval"]:  # its own parser: REMAINDER would refuse a leading --option
        from screener.tools import evaluate

        command = lambda: evaluate.main(raw[1:])  # noqa: E731
    else:
        parser = _parser()
        args = parser.parse_args(raw)
        if args.command is None:  # `screener` alone: the command overview, not a usage error
            parser.print_help()
            return 0
        command = lambda: args.func(args)  # noqa: E731
    try:
        return int(command())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from screener.rules import PackError

        if isinstance(exc, PackError):
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"{len(exc.problems)} problem(s) in rule packs", file=sys.stderr)
            return 2
        if debug:
            raise
        errors.report(exc)
        return 1
