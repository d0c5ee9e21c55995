"""`screener rules check|test|publish|status`: validate, test and publish packs; worker status."""

from __future__ import annotations

import argparse
from typing import Any

from screener import defaults
from screener.cli.common import EXTERNAL_HELP, MODEL_HELP, command, commands, load


def register(sub: Any) -> None:
    rules = command(sub, "rules", "validate, test and publish rule packs; worker status")
    rules_sub = commands(rules, dest="rules_command", required=True)
    command(rules_sub, "check", "validate packs; errors name file:line", _check, _pack_arguments)
    command(rules_sub, "test", "run every rule's inline examples", _test, _pack_arguments)
    command(rules_sub, "publish",
            "validate a pack and publish it to the rules topic (--rules-source kafka)",
            _publish, _publish_arguments)  # fmt: skip
    command(rules_sub, "status", "each live worker and the rules version it runs",
            _status, _status_arguments)  # fmt: skip


def _pack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", help="pack files or directories (default: shipped)")
    p.add_argument("--allow-external-files", action="store_true", help=EXTERNAL_HELP)
    p.add_argument("--model", metavar="DIR", help=MODEL_HELP)


def _topic_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap-servers", help="default: $SCREENER_BOOTSTRAP_SERVERS")
    p.add_argument("--rules-topic", default=defaults.RULES_TOPIC)


def _publish_arguments(pub: argparse.ArgumentParser) -> None:
    pub.add_argument("paths", nargs="+", help="pack files or directories")
    _topic_arguments(pub)


def _status_arguments(status: argparse.ArgumentParser) -> None:
    status.add_argument("--status-topic", default=defaults.STATUS_TOPIC)
    status.add_argument("--all", action="store_true", help="also stopped and silent workers")
    status.add_argument("--json", action="store_true")
    _topic_arguments(status)


def _check(args: argparse.Namespace) -> int:
    pack = load(args.paths, args.allow_external_files, args.model)
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


def _test(args: argparse.Namespace) -> int:
    from screener.rules.examples import run_examples

    results = run_examples(load(args.paths, args.allow_external_files, args.model))
    failed = [r for r in results if not r.ok]
    for r in failed:
        want = "to match" if r.expect_match else "not to match"
        why = f" ({r.error})" if r.error else ""
        print(f"{r.origin}: rule {r.rule}: expected {want}: {r.example!r}{why}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _publish(args: argparse.Namespace) -> int:
    from screener.reload.commands import cmd_publish

    return cmd_publish(args)


def _status(args: argparse.Namespace) -> int:
    from screener.reload.commands import cmd_status

    return cmd_status(args)
