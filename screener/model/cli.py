"""`screener train`: labelled files → a model directory the packs (or `--model`) can use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from screener.model.data import DROP, DataError, Labelled, load_labelled, pack_examples
from screener.model.linear import MAX_ORDER, ModelError, save
from screener.model.train import TrainConfig, fit


def _mapping(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            label, sep, cls = pair.partition("=")
            if not sep or not label or not cls:
                raise argparse.ArgumentTypeError(f"--map wants LABEL=CATEGORY, got {pair!r}")
            out[label] = cls
    return out


def parse_orders(text: str) -> tuple[int, ...]:
    """`1,2,3` → (1, 2, 3); each order 1..MAX_ORDER."""
    try:
        orders = tuple(sorted({int(k) for k in text.split(",")}))
    except ValueError:
        msg = f"orders must be comma-separated integers: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not orders or not all(1 <= k <= MAX_ORDER for k in orders):
        raise argparse.ArgumentTypeError(f"orders must be in 1..{MAX_ORDER}: {text!r}")
    return orders


def train_config(args: argparse.Namespace, meta: dict[str, Any] | None = None) -> TrainConfig:
    """The `TrainConfig` of `screener train`'s parsed options (one place, so that the
    cross-validation's recipes cannot drop an option the command honours)."""
    return TrainConfig(
        bits=args.bits, epochs=args.epochs, learning_rate=args.learning_rate,
        class_power=args.class_power, orders=args.orders, min_ngrams=args.min_ngrams,
        digit_class=args.digit_class, l2=args.l2, mark_orders=args.mark_orders, meta=meta or {},
    )  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from screener.rules import load_packs
    from screener.text.folding import build_folding

    try:
        data = load_labelled(
            args.files, _mapping(args.map), part=args.part, text_column=args.text_column,
            label_column=args.label_column, max_rows_per_file=args.max_rows_per_file,
        )  # fmt: skip
    except (DataError, argparse.ArgumentTypeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    mapping = _mapping(args.map)
    for packs in args.examples:
        extra = pack_examples(load_packs([packs]))
        labels = [mapping.get(label, label) for label in extra.labels]  # same --map as files
        kept = [(t, c) for t, c in zip(extra.texts, labels, strict=True) if c != DROP]
        data = Labelled(data.texts + [t for t, _ in kept], data.labels + [c for _, c in kept],
                        data.skipped)  # fmt: skip
    sources = [p.name for p in args.files] + [f"examples of {Path(p).name}" for p in args.examples]
    config = train_config(args, {"trained_on": sources, "part": args.part, "note": args.note})
    with Progress(transient=True) as bar:
        task = bar.add_task("training", total=config.epochs)

        def progress(_: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            model = fit(build_folding(), data.texts, data.labels, config, progress)
        except ValueError as exc:
            print(f"cannot train: {exc}", file=sys.stderr)
            return 2
    try:
        model = save(model, args.out)
    except (OSError, ModelError) as exc:
        print(f"cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{c} {n}" for c, n in model.meta["class_rows"].items())
    print(f"{args.out}: {len(data.texts)} rows ({counts}); skipped {sum(data.skipped.values())}; "
          f"{model.version}")  # fmt: skip
    return 0
