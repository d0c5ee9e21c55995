"""`screener rules publish` and `screener rules status` (their arguments: `screener.cli.rules`)."""

from __future__ import annotations

import argparse
import socket
import time
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from screener.runtime import run_tool

STALE_AFTER_S = 30.0
"""a worker that has not reported for this long is shown as gone (it reports every 5 s)."""


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from screener.kafka import tool_options

    return tool_options(args.bootstrap_servers)


def cmd_publish(args: argparse.Namespace) -> int:
    from screener.kafka.rules import publish
    from screener.reload.bundle import publishable

    bundle, pack = publishable(args.paths, f"{socket.gethostname()}")  # PackError: file:line
    offset = run_tool(publish(_options(args), args.rules_topic, bundle))
    print(f"published {pack.version} ({len(bundle.files)} files, {len(pack.rules)} rules) to "
          f"{args.rules_topic} at offset {offset}")  # fmt: skip
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from screener.kafka.rules import read_latest_pack, read_status

    async def read() -> tuple[list[Any], Any]:
        options = _options(args)
        return await read_status(options, args.status_topic), await read_latest_pack(
            options, args.rules_topic
        )

    workers, latest = run_tool(read())
    now = time.time()
    live = [
        {**w, "age_s": round(now - float(w.get("updated_at", 0)), 1)}
        for w in sorted(workers, key=lambda w: str(w.get("worker")))
        if args.all or (w.get("state") == "running"
                        and now - float(w.get("updated_at", 0)) < STALE_AFTER_S)
    ]  # fmt: skip
    published = latest[1].get("version") if latest else None
    if args.json:
        print(orjson.dumps({"published": published, "workers": live}).decode())
        return 0
    console = Console()
    console.print(f"published on {args.rules_topic}: {published or 'nothing'}")
    table = Table("worker", "state", "source", "version", "last report", "last refusal")
    for w in live:
        mark = "" if published is None or w.get("version") == published else " (not latest)"
        table.add_row(
            str(w.get("worker")), str(w.get("state")), str(w.get("source")),
            f"{w.get('version')}{mark}", f"{w['age_s']}s ago", str(w.get("refused") or ""),
        )  # fmt: skip
    console.print(table)
    if not live:
        console.print(f"no live workers report on {args.status_topic}")
    return 0
