"""The command line's surface is pinned: every command, option, default, choice and help text.

`tests/fixtures/cli_surface.txt` lists them, one line per option in declaration order (so the
usage lines `--help` prints are pinned too). It was recorded from the single-module CLI before
it became a package of command groups; the package must build the same parser. A deliberate
change (a new flag) re-records it:

    python tests/unit/test_cli_surface.py --update

Also pinned here: building the parser and `screener --help` import none of the heavy
libraries, so every command starts quickly (each command imports its implementation on use).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cli_surface.txt"
HEAVY = ("aiokafka", "pydantic", "pydantic_settings", "numpy", "hyperscan", "yaml", "asyncio")


def _parser() -> argparse.ArgumentParser:
    from screener import cli

    build = getattr(cli, "build_parser", None) or getattr(cli, "_parser")  # noqa: B009
    parser: argparse.ArgumentParser = build()
    return parser


def _describe(action: argparse.Action, group: str) -> str:
    kind = type(action).__name__
    typ = getattr(action.type, "__name__", repr(action.type)) if action.type else None
    fields = [
        ",".join(action.option_strings) or action.dest, kind, f"dest={action.dest}",
        f"default={action.default!r}", f"type={typ}", f"nargs={action.nargs!r}",
        f"choices={list(action.choices) if action.choices is not None else None}",
        f"required={action.required}", f"metavar={action.metavar!r}", f"group={group}",
        f"help={action.help!r}",
    ]  # fmt: skip
    return " | ".join(fields)


def surface_lines(parser: argparse.ArgumentParser, path: str = "screener") -> Iterator[str]:
    """Every option of `parser` and of its sub-commands, recursively."""
    complete = getattr(parser, "complete", None)
    if complete is not None:  # a lazily configured command group: add its arguments now
        complete()
    yield f"{path}: prog={parser.prog!r} add_help={parser.add_help} desc={parser.description!r}"
    groups = {id(a): g.title for g in parser._action_groups for a in g._group_actions}
    exclusive = {
        id(a): f"x{n}" for n, g in enumerate(parser._mutually_exclusive_groups)
        for a in g._group_actions
    }  # fmt: skip
    subs: list[argparse._SubParsersAction[argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subs.append(action)
            helps = {c.dest: c.help for c in action._choices_actions}
            for name in action.choices:
                yield f"{path} {name}: help={helps.get(name)!r}"
            continue
        group = f"{groups.get(id(action))}"
        if id(action) in exclusive:
            group += f"/{exclusive[id(action)]}"
        yield f"{path}: {_describe(action, group)}"
    for action in subs:
        yield f"{path}: subcommands dest={action.dest} required={action.required}"
        for name, sub in action.choices.items():
            yield from surface_lines(sub, f"{path} {name}")


def test_every_command_and_option_is_unchanged() -> None:
    assert FIXTURE.read_text(encoding="utf-8").splitlines() == list(surface_lines(_parser()))


def test_the_surface_covers_every_command() -> None:
    """The comparison above would pass vacuously if the walk stopped finding commands."""
    lines = list(surface_lines(_parser()))
    for command in ("scan", "run", "rules check", "rules publish", "bench", "generate", "train"):
        assert any(line.startswith(f"screener {command}: ") for line in lines), command
    assert any("--bootstrap-servers" in line for line in lines if line.startswith("screener run:"))


def _help_in_a_fresh_process(call: str) -> tuple[str, list[str]]:
    """What `call` prints (it ends in SystemExit, as --help does), and which of HEAVY it
    imported."""
    code = (
        f"import sys\nfrom screener import cli\ntry:\n    {call}\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    *printed, heavy = result.stdout.splitlines()
    return "\n".join(printed), ast.literal_eval(heavy)


def test_building_the_parser_and_help_import_nothing_heavy() -> None:
    printed, heavy = _help_in_a_fresh_process("cli.build_parser().parse_args(['--help'])")
    assert "COMMAND" in printed  # the help really was printed
    assert heavy == []


def test_a_command_s_help_imports_only_what_that_command_needs() -> None:
    """`scan --help` does not pull in the service's settings or the Kafka client."""
    printed, heavy = _help_in_a_fresh_process("cli.main(['scan', '--help'])")
    assert "--max-text-chars" in printed
    assert heavy == []


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    FIXTURE.write_text("\n".join(surface_lines(_parser())) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
