"""`screener bank`, `train` and `lexicon import`: build what packs refer to (hash banks,
learned models, lexicon files)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from screener.cli.common import command, commands


def register(sub: Any) -> None:
    command(sub, "bank", "build a media hash bank (SHA-256, PDQ) from hash lists",
            _bank, _bank_arguments)  # fmt: skip
    command(sub, "train", "fit a learned model from labelled TSV/CSV/JSONL files",
            _train, _train_arguments)  # fmt: skip
    lex = command(sub, "lexicon", "lexicon files from plain word lists")
    lsub = commands(lex, dest="lexicon_command", required=True)
    command(lsub, "import", "normalise, de-duplicate, map tags, filter by precision",
            _lexicon_import, _lexicon_import_arguments)  # fmt: skip


def _bank_arguments(bank: argparse.ArgumentParser) -> None:
    bank.add_argument("lists", nargs="*", help="files of kind:hex lines (or bare hex with --kind)")
    bank.add_argument("--kind", choices=["sha256", "pdq"], help="kind of bare hex lines")
    bank.add_argument(
        "--images", nargs="*", default=[],
        help="image files: SHA-256 always; PDQ with the optional pdqhash package",
    )  # fmt: skip
    bank.add_argument("-o", "--output", required=True, help="bank file to write")


def _train_arguments(train: argparse.ArgumentParser) -> None:
    from screener.measure.holdout import PARTS
    from screener.model.cli import parse_orders
    from screener.model.train import TrainConfig

    train.add_argument("files", nargs="*", type=Path, help="labelled files (header row)")
    train.add_argument("--out", required=True, type=Path, help="model directory to write")
    train.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="LABEL=CATEGORY[,...]",
        help="what a label means: a category, `benign`, or `-` to leave it out",
    )
    train.add_argument("--text-column", help="default: `text`, else the last column")
    train.add_argument("--label-column", help="default: `label`, else the first column")
    train.add_argument(
        "--part",
        choices=PARTS,
        default="all",
        help="only this part of each file's fixed tune/held split",
    )
    train.add_argument("--max-rows-per-file", type=int, default=None)
    train.add_argument(
        "--examples",
        action="append",
        default=[],
        metavar="PACKS",
        help="also train on these packs' text examples (match → category)",
    )
    train.add_argument("--bits", type=int, default=TrainConfig.bits, help="2^bits hash buckets")
    train.add_argument(
        "--orders",
        type=parse_orders,
        default=TrainConfig.orders,
        help="character n-gram orders, comma-separated (default 1,2,3)",
    )
    train.add_argument(
        "--min-ngrams",
        type=int,
        default=TrainConfig.min_ngrams,
        help="minimum-evidence guard: scale short texts as if they had this many n-grams",
    )
    train.add_argument(
        "--digit-class",
        action="store_true",
        help="read every digit as 0 (numbers share n-grams instead of each its own digits)",
    )
    train.add_argument(
        "--mark-orders",
        type=parse_orders,
        default=TrainConfig.mark_orders,
        help="also n-grams of what folding changed or dropped (emoji, ③, ｑ, separators), "
        "e.g. 1,2 (default none)",
    )
    train.add_argument("--l2", type=float, default=TrainConfig.l2, help="weight decay")
    train.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    train.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    train.add_argument("--class-power", type=float, default=TrainConfig.class_power)
    train.add_argument("--note", default="", help="what the data is, stored in model.json")


def _lexicon_import_arguments(imp: argparse.ArgumentParser) -> None:
    imp.add_argument("files", nargs="+", type=Path, help="word lists (term[TAB]tags)")
    imp.add_argument("--out", required=True, type=Path, help="directory for <category>.txt")
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="TAG=CATEGORY",
        help="tag → category (`*=CAT` for untagged terms)",
    )
    imp.add_argument(
        "--benign",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="labelled file whose benign rows (tune part only) measure precision (repeatable)",
    )
    imp.add_argument(
        "--max-benign-rate",
        type=float,
        default=0.0005,
        help="a term firing on more of the benign rows becomes a weak signal (default 0.05%%)",
    )


def _bank(args: argparse.Namespace) -> int:
    from screener.banks.cli import cmd_bank

    return cmd_bank(args)


def _train(args: argparse.Namespace) -> int:
    from screener.model.cli import cmd_train

    return cmd_train(args)


def _lexicon_import(args: argparse.Namespace) -> int:
    from screener.rules.lexicon_import import cmd_import

    return cmd_import(args)
