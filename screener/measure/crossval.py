"""Five-fold cross-validation inside the tune part: how `model.yaml`'s thresholds are chosen.

    python -m screener.measure.crossval run --data DIR --out OOF.jsonl --recipe "TRAIN ARGS"
    python -m screener.measure.crossval search OOF.jsonl [--thresholds porn=0.4,...]

The held part (`holdout.py`) is never read here. The tune part of every labelled file is split
again in five folds by its text (first byte of SHA-256 of `cv5-in-tune` + text, mod 5; rows with
the same text share a fold). For each fold a model is trained with the recipe (the arguments of
`screener train`, `--out` aside) on the other four folds' rows, and the packs plus that model
screen the fold's rows of every evaluation file. The model rules are loaded with a threshold of
almost 0, so each out-of-fold row records the packs' own findings, which model rules may fire
(not stopped by `news_or_warning`) and the model's probabilities: `cutoffs.py` then replays the
engine's verdict for any thresholds without screening again. Models trained on four fifths
are a little less sure than the one trained on all of the tune part; two folds were too few
(thresholds chosen for them flagged too much on the held part).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from screener.measure.cutoffs import REVIEW, OutOfFold, add_arguments, read
from screener.measure.cutoffs import main as search_main
from screener.measure.holdout import select

if TYPE_CHECKING:
    from screener.engine import Engine
    from screener.measure.evaluate import Row

FOLDS = 5
FOLD_SALT = "cv5-in-tune"
TINY = 1e-6
"""the threshold model rules are screened at: every real threshold is above it."""
_THRESHOLD = re.compile(r"(model\.\w+\s*>=?\s*)([0-9.]+)")


def fold_of(text: str) -> int:
    """The cross-validation fold (0–4) of a tune-part row."""
    digest = hashlib.sha256((FOLD_SALT + text).encode("utf-8", "surrogatepass")).digest()
    return digest[0] % FOLDS


def tiny_rules(rules: Path, into: Path) -> Path:
    """A copy of the pack directory whose model rules read every probability above `TINY`."""
    # symlinks stay links: the loader then refuses one leading outside, as it would in `rules`
    shutil.copytree(rules, into, symlinks=True, dirs_exist_ok=True)
    for path in into.rglob("*.yaml"):
        if path.is_symlink():  # never written through: its target is not ours to change
            continue
        text = path.read_text("utf-8")
        changed = _THRESHOLD.sub(lambda m: f"{m.group(1)}{TINY:f}", text)
        if changed != text:
            path.write_text(changed, "utf-8")
    return into


def train_parser() -> argparse.ArgumentParser:
    """`screener train`'s own options: a recipe is written exactly as that command's arguments."""
    from screener.cli.assets import _train_arguments

    parser = argparse.ArgumentParser(prog="recipe", add_help=False)
    _train_arguments(parser)
    return parser


Log = Callable[[str], None]


def run(
    recipe: Sequence[str],
    data: Sequence[Path],
    rules: Path,
    out: Path,
    folds: Sequence[int] = range(FOLDS),
    log: Log = lambda _: None,
    keep_models: Path | None = None,
) -> int:
    """Train the recipe per fold, screen that fold, append its rows to `out` (JSON lines).

    `keep_models`: also write fold k's model to `keep_models/k` (to check a replay)."""
    from screener.engine import Engine
    from screener.measure.evaluate import find_datasets, read_tsv
    from screener.model.cli import _mapping, train_config
    from screener.model.data import load_labelled
    from screener.model.linear import save
    from screener.model.train import fit
    from screener.rules import load_packs
    from screener.text.folding import build_folding

    args = train_parser().parse_args([*recipe, "--out", "unused"])
    if args.examples:
        raise SystemExit("crossval: --examples recipes are not supported")
    config = train_config(args)
    train = load_labelled(
        args.files, _mapping(args.map), part=args.part, text_column=args.text_column,
        label_column=args.label_column, max_rows_per_file=args.max_rows_per_file,
    )  # fmt: skip
    train_folds = [fold_of(t) for t in train.texts]
    paths = find_datasets(data)
    evaluated = {p.name: select(read_tsv(p), "tune") for p in paths}
    folding = build_folding()
    written = 0
    with tempfile.TemporaryDirectory(prefix="screener-cv-") as tmp, out.open("ab") as fh:
        tiny = tiny_rules(rules, Path(tmp) / "rules")
        for k in folds:
            keep = [i for i, f in enumerate(train_folds) if f != k]
            model = fit(folding, [train.texts[i] for i in keep],
                        [train.labels[i] for i in keep], config)  # fmt: skip
            where = (keep_models or Path(tmp)) / str(k)
            model_dir = save(model, where)
            pack = load_packs([tiny], model=where)
            assert pack.model is not None and pack.model.version == model_dir.version
            if pack.thresholds.review != REVIEW:  # the replay flags from REVIEW on
                raise SystemExit(f"crossval: review threshold {pack.thresholds.review}, "
                                 f"the replay assumes {REVIEW}")  # fmt: skip
            floor = {r.id: _floor(r.action) for r in pack.rules}
            engine = Engine(pack)
            for name, rows in evaluated.items():
                mine = [r for r in rows if fold_of(r.text) == k]
                for record in _screen(engine, name, k, mine, floor):
                    fh.write(record.to_json() + b"\n")
                    written += 1
            log(f"fold {k}: trained on {len(keep)} rows, screened its rows ({written} so far)")
    return written


def _screen(
    engine: Engine, name: str, fold: int, rows: Sequence[Row], floor: Mapping[str, int]
) -> Iterator[OutOfFold]:
    """One fold's rows of one file, screened by the packs and the fold's model."""
    from screener.text.views import BatchText

    model = engine.pack.model
    assert model is not None
    for lo in range(0, len(rows), 4096):
        chunk = rows[lo : lo + 4096]
        texts = [r.text for r in chunk]
        verdicts = engine.screen_texts(texts)
        probs = model.predict(BatchText.build(engine.pack.folding, texts))
        for row, verdict, p in zip(chunk, verdicts, probs, strict=True):
            findings = tuple((f.rule, f.category, f.score, floor[f.rule]) for f in verdict.findings)
            scores = {c: round(float(v), 6) for c, v in zip(model.categories, p[1:], strict=True)}
            yield OutOfFold(name, row.label, fold, findings, scores, row.text)


def _floor(action: str | None) -> int:
    from screener.verdict import ACTION_RANK

    return ACTION_RANK[action] if action is not None else 0


def main(argv: Sequence[str] | None = None) -> int:
    from screener.measure.evaluate import DEFAULT_DATA

    parser = argparse.ArgumentParser(prog="python -m screener.measure.crossval",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train per fold and screen the fold (JSON lines)")
    r.add_argument("--recipe", required=True, help="`screener train` arguments, quoted")
    r.add_argument("--data", nargs="+", type=Path, default=[DEFAULT_DATA])
    r.add_argument("--rules", type=Path, default=Path("seeds/rules"))
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--folds", default="0,1,2,3,4", help="folds to run (default all)")
    s = sub.add_parser("search", help="replay thresholds over out-of-fold rows")
    add_arguments(s)
    args = parser.parse_args(argv)
    if args.cmd == "run":
        if args.out.exists():
            args.out.unlink()
        folds = [int(k) for k in args.folds.split(",")]
        n = run(shlex.split(args.recipe), args.data, args.rules, args.out, folds,
                lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
        print(f"{args.out}: {n} out-of-fold rows")
        return 0
    return search_main(args, read(args.oof))


if __name__ == "__main__":
    raise SystemExit(main())
