"""`screener run`, `broker` and `demo`: the service, the embedded broker, and both together."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from screener.cli.common import RULES_HELP, command, load, settings
from screener.shipped import default_packs, default_samples


def register(sub: Any) -> None:
    command(sub, "run", "the service: consumer-group workers over Kafka", _run, _run_arguments)
    command(sub, "broker", "run the embedded broker (Tansu) in the foreground",
            _broker, _broker_arguments)  # fmt: skip
    command(sub, "demo", "embedded broker + sample traffic + a worker, live summary",
            _demo, _demo_arguments)  # fmt: skip


def _run_arguments(run: argparse.ArgumentParser) -> None:
    from screener.pipeline.settings import Settings

    run.add_argument("--config", help="YAML file of settings (flags and SCREENER_* env win)")
    for name, info in Settings.model_fields.items():  # one flag per setting, defaults there
        default = info.get_default(call_default_factory=True)
        run.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                         help=f"default: {default}")  # fmt: skip


def _broker_arguments(broker: argparse.ArgumentParser) -> None:
    broker.add_argument("--port", type=int, default=9092)


def _demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--duration", type=float, default=None, help="seconds (default: until Ctrl-C)"
    )
    demo.add_argument("--rate", type=float, default=2000.0, help="sample events per second")
    demo.add_argument("--metrics-port", type=int, default=9108, help="0 turns metrics off")
    demo.add_argument("--rules", action="append", metavar="PATH", help=RULES_HELP)
    demo.add_argument("--samples", help="directory of *.jsonl events (default: shipped samples)")


def _run(args: argparse.Namespace) -> int:
    import logging
    import os

    from screener.pipeline.service import load_rules, rule_paths, run_worker, transactions_refused
    from screener.pipeline.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # A stop asked for while still starting up (nothing consumed yet) is a clean exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # SIGHUP reloads rules once a worker runs; before that it must not end the process
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = settings(args)
    pack = load_rules(config, default_packs())  # refuse bad packs before anything starts
    if config.workers > 1:
        if (refused := transactions_refused(config)) is not None:
            print(f"error: {refused}", file=sys.stderr)  # before any worker starts
            return 2
        argv = [sys.executable, "-m", "screener", *sys.argv[1:]]
        return Supervisor(
            argv, config.workers, shutdown_timeout_s=config.shutdown_timeout_s + 5,
            metrics_port=config.metrics_port, metrics_host=config.metrics_host,
        ).run()  # fmt: skip
    index = int(os.environ.get("SCREENER_WORKER_INDEX", "0"))
    return run_worker(config, pack, index, rule_paths(config, default_packs()))


def _broker(args: argparse.Namespace) -> int:
    from screener.brokers.tansu import run_foreground

    return run_foreground(args.port)


def _demo(args: argparse.Namespace) -> int:
    from screener.demo import run_demo

    samples = Path(args.samples) if args.samples else default_samples()
    return run_demo(lambda: load(args.rules), samples, args.duration, args.rate,
                    args.metrics_port)  # fmt: skip
