"""`screener record`, `replay`, `generate` and `loadtest`: the Kafka traffic tools."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from screener import defaults
from screener.cli.common import SERVERS_HELP, command, topics


def register(sub: Any) -> None:
    for name, text, handler, arguments in (
        ("record", "record Kafka topics into a compact, resumable file", _record,
         _record_arguments),
        ("replay", "produce a recording back to Kafka, paced", _replay, _replay_arguments),
        ("generate", "deterministic synthetic traffic with true labels", _generate,
         _generate_arguments),
        ("loadtest", "drive a running screener at stepped rates; report", _loadtest,
         _loadtest_arguments),
    ):  # fmt: skip
        command(sub, name, text, handler, arguments)


def _record_arguments(rec: argparse.ArgumentParser) -> None:
    rec.add_argument(
        "--topic", action="append", required=True, help="topic(s), repeatable or comma-separated"
    )
    rec.add_argument(
        "--out", required=True, help="recording file (.screc: zstd frames of binary records)"
    )
    rec.add_argument("--bootstrap-servers", help=SERVERS_HELP)
    start = rec.add_mutually_exclusive_group()
    start.add_argument("--from-time", help="start at this time (ISO 8601, epoch ms or 'now')")
    start.add_argument("--live", action="store_true", help="start at the end and keep following")
    rec.add_argument("--until", help="stop each partition at its first record stamped later")
    rec.add_argument("--limit", type=int, help="stop after this many records")
    rec.add_argument("--resume", action="store_true", help="continue an interrupted recording")
    rec.add_argument("--force", action="store_true", help="replace an existing file")
    rec.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def _replay_arguments(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("file", help="recording file")
    rep.add_argument("--to", help="target topic (default: each record's original topic)")
    rep.add_argument("--bootstrap-servers", help=SERVERS_HELP)
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


def _generate_arguments(gen: argparse.ArgumentParser) -> None:
    gen.add_argument("--count", type=int, default=10_000, help="events (default 10000)")
    gen.add_argument("--seed", type=int, default=1, help="same seed, same bytes")
    gen.add_argument("--out", help="file: .screc (recording) or JSONL (default: stdout)")
    gen.add_argument("--format", choices=["jsonl", "recording"], help="default: by --out suffix")
    gen.add_argument("--topic", help="produce everything to this Kafka topic")
    gen.add_argument(
        "--to-kafka", action="store_true", help="produce to --chat-topic / --microblog-topic"
    )
    gen.add_argument("--chat-topic", default=defaults.CHAT_TOPIC)
    gen.add_argument("--microblog-topic", default=defaults.MICROBLOG_TOPIC)
    gen.add_argument("--bootstrap-servers", help=SERVERS_HELP)
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
        choices=[
            "image-flood",
            "advert-groups",
            "campaign-ring",
            "contact-only",
            "behaviour",
            "samples",
        ],
        help="weave behaviour episodes (floods, campaigns, contact-only accounts) into the "
        "stream; samples: the sample-events preset instead "
        "(--seed 20140825 --count 440: seeds/events)",
    )


def _loadtest_arguments(lt: argparse.ArgumentParser) -> None:
    lt.add_argument("--bootstrap-servers", help=SERVERS_HELP)
    lt.add_argument(
        "--input-topics",
        default=f"{defaults.CHAT_TOPIC},{defaults.MICROBLOG_TOPIC}",
        help="where to send: chat to the first, microblog to the second",
    )
    lt.add_argument("--review-topic", default=defaults.REVIEW_TOPIC)
    lt.add_argument(
        "--group-id", default=defaults.GROUP_ID, help="the service's consumer group (lag)"
    )
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


def _record(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console

    from screener.runtime import run_tool
    from screener.traffic.record import RecordError, parse_time, record

    console = Console(stderr=True)
    try:
        summary = run_tool(record(
            topics(args.topic), Path(args.out), args.bootstrap_servers,
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


def _replay(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console

    from screener.kafka import MissingTopic
    from screener.runtime import run_tool
    from screener.traffic.pacing import Pace
    from screener.traffic.recording import RecordingError
    from screener.traffic.replay import ReplayError, replay, summary_table

    console = Console(stderr=True)
    if args.max:
        pace = Pace()
    elif args.rate is not None:
        pace = Pace(rate=args.rate)
    else:
        pace = Pace(speed=args.speed if args.speed is not None else 1.0)
    try:
        summary = run_tool(replay(
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


def _generate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from screener.synthetic import generate as gen
    from screener.synthetic.texts import DEFAULT_MIX
    from screener.traffic.record import parse_time

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
        from screener.synthetic.presets import take

        items = take(generator, args.preset, args.count)
    labels = not args.no_labels
    chat_topic = args.topic or args.chat_topic
    microblog_topic = args.topic or args.microblog_topic
    if args.bank_out:
        Path(args.bank_out).write_text("".join(f"{h:064x}\n" for h in generator.bad_bank))
    if args.topic or args.to_kafka:
        from screener.kafka import MissingTopic
        from screener.runtime import run_tool

        try:
            sent, errors = run_tool(gen.produce(
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


def _loadtest(args: argparse.Namespace) -> int:
    from rich.console import Console

    from screener.kafka import MissingTopic
    from screener.measure import loadtest, loadtest_report
    from screener.runtime import run_tool

    console = Console(stderr=True)
    try:
        cfg = loadtest.LoadTestConfig(
            bootstrap_servers=args.bootstrap_servers, input_topics=topics([args.input_topics]),
            review_topic=args.review_topic, group_id=args.group_id,
            steps=[float(s) for s in topics([args.steps])], step_seconds=args.step_seconds,
            warmup_seconds=args.warmup_seconds, drain_seconds=args.drain_seconds,
            metrics_urls=topics(args.metrics_url or []),
            max_p99_ms=args.max_p99_ms, lag_tolerance_s=args.lag_tolerance_s,
            keep_going=args.keep_going, replay=Path(args.replay) if args.replay else None,
            pool_size=args.pool_size, seed=args.seed, violation_rate=args.violation_rate,
            acks=args.acks,
        )  # fmt: skip
        report = run_tool(loadtest.run_loadtest(cfg, console))
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
