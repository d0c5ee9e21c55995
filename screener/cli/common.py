"""What every command group shares: lazily configured sub-commands, the shipped data, packs.

Start-up cost is the reason for the shape. A command's arguments are added only when that
command is chosen (`command(..., arguments=...)`), and its implementation is imported only
when it runs, so `screener scan` never imports the service's settings, the Kafka client or
numpy just to build a parser it does not use. Nothing here imports more than the stdlib.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from screener.shipped import default_packs

if TYPE_CHECKING:
    from screener.pipeline.settings import Settings
    from screener.rules import RulePack

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]

RULES_HELP = "pack file or directory (repeatable; default: the shipped packs)"
EXTERNAL_HELP = (
    "let packs read lexicon files outside their own directory "
    "(also SCREENER_RULES_ALLOW_EXTERNAL=1)"
)
MODEL_HELP = "learned-model directory replacing the one the packs declare"
SERVERS_HELP = "Kafka bootstrap servers (default: $SCREENER_BOOTSTRAP_SERVERS, 127.0.0.1:9092)"


class Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (the usage block is what `--help` is for); arguments
    registered with `defer` are added when the command is chosen (or `complete` is called)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Arguments] = []

    def defer(self, arguments: Arguments) -> None:
        self._deferred.append(arguments)

    def complete(self) -> None:
        """Add the deferred arguments (once)."""
        deferred, self._deferred = self._deferred, []
        for arguments in deferred:
            arguments(self)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Sub-commands whose arguments are added only once the command is on the line."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
        values: Any, option_string: str | None = None,
    ) -> None:  # fmt: skip
        chosen = self._name_parser_map.get(values[0])
        if isinstance(chosen, Parser):
            chosen.complete()
        super().__call__(parser, namespace, values, option_string)


def commands(parser: argparse.ArgumentParser, **kwargs: Any) -> Any:
    """`parser.add_subparsers` with lazily configured sub-commands."""
    return parser.add_subparsers(action=_Commands, parser_class=Parser, **kwargs)


def command(
    sub: Any, name: str, help: str, handler: Handler | None = None,
    arguments: Arguments | None = None, **kwargs: Any,
) -> Parser:  # fmt: skip
    """Register one sub-command: listed at once, `arguments` added when it is chosen."""
    parser: Parser = sub.add_parser(name, help=help, **kwargs)
    if arguments is not None:
        parser.defer(arguments)
    if handler is not None:
        parser.set_defaults(func=handler)
    return parser


def load(
    paths: Sequence[str] | None, allow_external: bool = False, model: str | None = None,
    defer_hyperscan: bool = False,
) -> RulePack:  # fmt: skip
    """The packs named on the line, else the shipped ones (`defer_hyperscan`: `load_packs`)."""
    from screener.rules import load_packs

    chosen = list(paths) if paths else [default_packs()]
    # allow_external None: the env decides
    return load_packs(chosen, allow_external=allow_external or None, model=model,
                      defer_hyperscan=defer_hyperscan)  # fmt: skip


def rule_paths(values: Sequence[str] | None) -> list[Path]:
    """`--rules` values as paths, else the shipped packs."""
    return [Path(p) for p in values] if values else [default_packs()]


def topics(values: Sequence[str]) -> list[str]:
    """Repeatable and comma-separated values, flattened."""
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def settings(args: argparse.Namespace) -> Settings:
    """The service's settings: `--config` file, then SCREENER_* env, then the flags given."""
    from screener.pipeline.settings import Settings, load_settings

    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    return load_settings(Path(args.config) if args.config else None, overrides)
