"""The `screener` command line (contract: docs/contracts.md): wiring only, no logic of its own.

One module per command group, each with `register(sub)`; a command's arguments are added
only when it is chosen and its implementation imported only when it runs (`common.command`),
so building the parser costs no heavy import. To add a command: a `command(...)` call in the
group's `register`, its arguments in a function next to it, its handler importing what it
runs; a new group is one more entry in `GROUPS`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from screener import errors
from screener.cli import assets, measure, rules, scan, service, traffic
from screener.cli.common import Parser, commands
from screener.shipped import default_packs, default_samples

__all__ = ["build_parser", "default_packs", "default_samples", "main"]

GROUPS = (scan, rules, service, measure, traffic, assets)
"""in the order `screener --help` lists their commands."""


def build_parser() -> Parser:
    import platform

    from screener import __version__

    parser = Parser(
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
    sub = commands(parser, dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; any failure is one line on stderr and a non-zero exit (errors.py)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    debug = errors.debug_requested(raw)
    raw = errors.strip_debug(raw)
    command: Callable[[], int]
    if raw[:1] == ["eval"]:  # its own parser: REMAINDER would refuse a leading --option
        from screener.measure import evaluate

        command = lambda: evaluate.main(raw[1:])  # noqa: E731
    else:
        parser = build_parser()
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
