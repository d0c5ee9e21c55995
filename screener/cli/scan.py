"""`screener scan`: screen JSONL events or plain lines from files or stdin, verdicts on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any, BinaryIO

from screener.cli.common import EXTERNAL_HELP, MODEL_HELP, RULES_HELP, command, load
from screener.defaults import DEFAULT_MAX_TEXT_CHARS


def register(sub: Any) -> None:
    command(sub, "scan", "screen JSONL events (or --text lines); verdicts on stdout",
            _scan, _arguments)  # fmt: skip


def _arguments(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("files", nargs="*", help="input files (default: stdin)")
    scan.add_argument("--text", action="store_true", help="one plain message per line")
    scan.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    scan.add_argument("--model", metavar="DIR", help=MODEL_HELP)
    scan.add_argument("--max-text-chars", type=int, default=DEFAULT_MAX_TEXT_CHARS)
    scan.add_argument("--allow-external-files", action="store_true", help=EXTERNAL_HELP)
    scan.add_argument("--jobs", type=_jobs, metavar="N", help=JOBS_HELP)


JOBS_HELP = (
    "worker processes for lines that carry no behaviour state (every --text line; events "
    "when the packs keep none), output in input order (default: the CPUs this process may "
    "use; 1: screen in this process)"
)


def _jobs(value: str) -> int:
    jobs = int(value)
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {jobs})")
    return jobs


def _default_jobs() -> int:
    """The CPUs this process may run on: its affinity mask (taskset, a container's cpuset),
    not the machine's count."""
    import os

    return len(os.sched_getaffinity(0))


def _scan(args: argparse.Namespace) -> int:
    from screener.engine import Engine
    from screener.runtime import tune_gc, young_threshold
    from screener.scan import BATCH_LINES, scan_json, stateless

    out = sys.stdout.buffer
    streams: list[BinaryIO] = []
    try:
        # every input opened before the packs load: a mistyped path fails at once
        streams = [open(f, "rb") for f in args.files] if args.files else [sys.stdin.buffer]  # noqa: SIM115
        # the Hyperscan compile (cold cache only) starts once the input is known to be more
        # than one chunk (scan_jobs), or at once for stateful input below
        pack = load(args.rules, args.allow_external_files, args.model, defer_hyperscan=True)
        engine = Engine(pack, max_text_chars=args.max_text_chars)
        jobs = args.jobs if args.jobs is not None else _default_jobs()
        if stateless(engine, args.text):  # cut in chunks, in this process too at --jobs 1
            from screener.scan_jobs import scan_parallel

            scan_parallel(engine, streams, out, jobs=jobs, as_text=args.text)
        else:
            tune_gc(young_threshold(BATCH_LINES))
            pack.regexes.start()
            for chunk in scan_json(engine, streams, as_text=args.text):
                out.write(chunk)
    except BrokenPipeError:
        return 0
    finally:
        for s in streams:
            if s is not sys.stdin.buffer:
                s.close()
    out.flush()
    return 0
