"""Detection quality of a rule pack on labelled corpora: precision, recall, F1, false positives.

    screener eval [--rules PATH ...] [--model DIR] [--data DIR_OR_TSV ...] [--part held]
                  [--compare OLD_PACK ...] [--worst N] [--limit N]

The corpora are third-party evaluation data kept *outside* the repository (by default
`../shared/datasets/labelled` next to the repo root); nothing here ships or needs them at run
time. Each file is a TSV with a header row, the label in the first column and the message in
the last. A `LabelScheme`, chosen by file name, says what its labels mean:

- `chineseharm*`: illicit_ads, fraud, gambling, porn, abuse are categories; `fine` is benign.
- `cn_sms_spam*`: `1` is spam, `0` ham (benign). Spam spans several of our categories, so any
  flag on a spam row is a hit ("any-flag" scoring); every digit in its spam is masked as `x`.
- `en_sms_spam*`: `spam` / `ham`, scored like the Chinese SMS set.
- `cold*`: `1` (offensive) is abuse, `0` benign.
- `swsr*`: `1` (sexist) is abuse, reported separately as `abuse (sexism)`; `0` benign.

For a gold category *c* of a dataset: TP = positive rows of *c* whose verdict category (the
highest-scoring one) is accepted for *c*; predicted = rows of the dataset, of any label, whose
verdict category is accepted for *c*; precision = TP / predicted, recall = TP / positives.
Rows are split once into a tuning and a held part (`screener.measure.holdout`: a stable hash of
the row's text, 50/50); the command line reports the `held` part by default — the part no
rule or shipped model was tuned or trained on. `screener.measure.quality` adds the headline
figures (ChineseHarm six-class macro-F1 and harmful-vs-benign, everyday false positives,
English spam F1), the confusion matrix and the worst errors with what decided them.

"Any-flag recall" counts a positive row as found when it is flagged at all, whatever the
category. FPR is the share of benign rows that are flagged; per category it is the share of
benign rows flagged *as that category*. By default a category is accepted only for itself;
`accept={"porn": {"porn", "solicitation"}}` (CLI: `--accept porn=solicitation`) widens that.

Long: reading the corpora, scoring and the report are one measurement, read top to bottom.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from screener.measure.holdout import PARTS, select
from screener.measure.quality import (
    RowResult,
    render_six_class,
    render_worst,
    six_class_scores,
    worst,
)
from screener.shipped import default_packs

if TYPE_CHECKING:
    from screener.rules import RulePack

BENIGN = "benign"
SPAM = "spam"
DEFAULT_BATCH = 4096
REPO_ROOT = Path(__file__).resolve().parents[2]
# From a checkout the data sits next to it; installed, `../shared` is taken from the working
# directory (never from inside the virtualenv, where nobody keeps data).
_IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()
DEFAULT_DATA = Path(
    os.environ.get("SCREENER_EVAL_DATA")
    or (REPO_ROOT.parent if _IN_CHECKOUT else Path("..")) / "shared" / "datasets" / "labelled"
)
"""`../shared/datasets/labelled` beside the checkout (installed: of the working directory), or
SCREENER_EVAL_DATA."""
DEFAULT_RULES = default_packs()


# --- what the evaluation needs from the engine ------------------------------------------------


class VerdictLike(Protocol):
    """The part of `screener.verdict.Verdict` the evaluation reads."""

    @property
    def flagged(self) -> bool: ...

    @property
    def category(self) -> str | None: ...


class Screener(Protocol):
    """Anything that screens plain messages: `screener.engine.Engine` in practice."""

    def screen_texts(self, texts: list[str], /) -> Sequence[VerdictLike]: ...


# --- label schemes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelScheme:
    """How one corpus' labels map to gold categories."""

    name: str
    positive: Mapping[str, str]
    """label → gold category (`spam` for any-flag scoring)."""
    benign: frozenset[str]
    report_as: Mapping[str, str] = field(default_factory=dict)
    """gold category → the name it is reported under (e.g. SWSR sexism)."""

    def gold(self, label: str) -> str | None:
        """The gold category of a label, `BENIGN`, or None for a label the scheme doesn't know."""
        if label in self.benign:
            return BENIGN
        return self.positive.get(label)

    def shown(self, gold: str) -> str:
        return self.report_as.get(gold, gold)


CHINESEHARM_CATEGORIES = ("illicit_ads", "fraud", "gambling", "porn", "abuse")

SCHEMES: dict[str, LabelScheme] = {
    "chineseharm": LabelScheme(
        "chineseharm", {c: c for c in CHINESEHARM_CATEGORIES}, frozenset({"fine"})
    ),
    "cn_sms_spam": LabelScheme("cn_sms_spam", {"1": SPAM}, frozenset({"0"})),
    "en_sms_spam": LabelScheme("en_sms_spam", {"spam": SPAM}, frozenset({"ham"})),
    "cold": LabelScheme("cold", {"1": "abuse"}, frozenset({"0"})),
    "swsr": LabelScheme("swsr", {"1": "abuse"}, frozenset({"0"}), {"abuse": "abuse (sexism)"}),
}


def scheme_for(path: Path) -> LabelScheme | None:
    """The scheme whose prefix starts the file name (longest prefix wins)."""
    name = path.name.lower()
    matches = [key for key in SCHEMES if name.startswith(key)]
    return SCHEMES[max(matches, key=len)] if matches else None


# --- reading corpora --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    text: str


def read_tsv(path: Path, limit: int | None = None) -> list[Row]:
    """Rows of a labelled TSV: header skipped, label first, text last, no quoting."""
    csv.field_size_limit(1 << 26)
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for record in reader:
            if len(record) < 2:
                continue
            rows.append(Row(record[0].strip(), record[-1]))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def find_datasets(paths: Iterable[Path]) -> list[Path]:
    """TSV files with a known scheme: files as given, directories searched (sorted)."""
    out: list[Path] = []
    for path in paths:
        candidates = sorted(path.glob("*.tsv")) if path.is_dir() else [path]
        out += [p for p in candidates if scheme_for(p) is not None]
    return out


# --- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """Counts for one (dataset, gold category) cell, and the rates derived from them."""

    positives: int
    tp: int
    predicted: int
    flagged_positives: int
    benign: int
    benign_flagged: int

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def any_flag_recall(self) -> float:
        return self.flagged_positives / self.positives if self.positives else 0.0

    @property
    def fpr(self) -> float:
        return self.benign_flagged / self.benign if self.benign else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.positives + other.positives,
            self.tp + other.tp,
            self.predicted + other.predicted,
            self.flagged_positives + other.flagged_positives,
            self.benign + other.benign,
            self.benign_flagged + other.benign_flagged,
        )


@dataclass(frozen=True)
class DatasetReport:
    name: str
    scheme: LabelScheme
    rows: int
    unknown_labels: int
    benign: int
    benign_flagged: int
    scores: dict[str, Score]
    """shown category name → score (spam sets: one `spam` entry scored on any flag)."""
    flagged_as: dict[str, int]
    """verdict category → number of flagged rows (all labels)."""
    seconds: float
    benign_flagged_as: dict[str, int] = field(default_factory=dict)
    """verdict category → number of flagged *benign* rows."""
    results: list[RowResult] = field(default_factory=list, repr=False)
    """every row with its verdict and what decided it (for the headline and worst errors)."""

    @property
    def fpr(self) -> float:
        return self.benign_flagged / self.benign if self.benign else 0.0


@dataclass(frozen=True)
class Report:
    datasets: list[DatasetReport]
    rules_version: str = ""
    accept: Mapping[str, frozenset[str]] = field(default_factory=dict)
    part: str = "all"

    def by_category(self) -> dict[str, Score]:
        """Each shown category pooled over the datasets that have it as a positive class.

        Precision and recall pool those datasets. The FPR of a category is measured on the
        benign rows of *every* dataset (a fraud flag on a COLD comment is a false positive
        too); spam keeps the FPR of the spam corpora, since any flag counts there.
        """
        pooled: dict[str, Score] = {}
        golds: dict[str, str] = {}
        for ds in self.datasets:
            for name, score in ds.scores.items():
                pooled[name] = pooled[name] + score if name in pooled else score
                golds[name] = next(
                    (g for g in ds.scheme.positive.values() if ds.scheme.shown(g) == name), name
                )
        benign = sum(ds.benign for ds in self.datasets)
        for name, score in pooled.items():
            gold = golds[name]
            if gold == SPAM:
                continue
            ok = _accepted(gold, self.accept)
            flagged = sum(
                n for ds in self.datasets for c, n in ds.benign_flagged_as.items() if c in ok
            )
            pooled[name] = replace(score, benign=benign, benign_flagged=flagged)
        return pooled


def _accepted(gold: str, accept: Mapping[str, frozenset[str]]) -> frozenset[str]:
    return accept.get(gold, frozenset()) | {gold}


def score_dataset(
    name: str,
    scheme: LabelScheme,
    rows: Sequence[Row],
    verdicts: Sequence[VerdictLike],
    accept: Mapping[str, frozenset[str]] | None = None,
    seconds: float = 0.0,
) -> DatasetReport:
    """Score one corpus' verdicts (one per row, same order)."""
    if len(rows) != len(verdicts):
        raise ValueError(f"{name}: {len(rows)} rows but {len(verdicts)} verdicts")
    accept = accept or {}
    golds = [scheme.gold(row.label) for row in rows]
    categories = [v.category if v.flagged else None for v in verdicts]
    benign = sum(1 for g in golds if g == BENIGN)
    benign_flagged = sum(1 for g, c in zip(golds, categories, strict=True) if g == BENIGN and c)
    flagged_as = Counter(c for c in categories if c is not None)
    benign_as = Counter(
        c for g, c in zip(golds, categories, strict=True) if g == BENIGN and c is not None
    )
    scores: dict[str, Score] = {}
    for gold in sorted({g for g in golds if g is not None and g != BENIGN}):
        positives = sum(1 for g in golds if g == gold)
        found = sum(1 for g, c in zip(golds, categories, strict=True) if g == gold and c)
        if gold == SPAM:  # any category counts: spam spans several of ours
            score = Score(positives, found, found + benign_flagged, found, benign, benign_flagged)
        else:
            ok = _accepted(gold, accept)
            tp = sum(1 for g, c in zip(golds, categories, strict=True) if g == gold and c in ok)
            predicted = sum(1 for c in categories if c in ok)
            false_benign = sum(
                1 for g, c in zip(golds, categories, strict=True) if g == BENIGN and c in ok
            )
            score = Score(positives, tp, predicted, found, benign, false_benign)
        scores[scheme.shown(gold)] = score
    unknown = sum(1 for g in golds if g is None)
    return DatasetReport(
        name, scheme, len(rows), unknown, benign, benign_flagged, scores, dict(flagged_as),
        seconds, dict(benign_as),
    )  # fmt: skip


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def screen_all(
    screener: Screener, texts: Sequence[str], batch: int = DEFAULT_BATCH
) -> list[VerdictLike]:
    out: list[VerdictLike] = []
    for chunk in _batches(texts, batch):
        out.extend(screener.screen_texts(chunk))
    return out


def model_scores(screener: Screener, texts: Sequence[str], batch: int) -> list[dict[str, float]]:
    """The pack's learned-model probabilities per text (empty dicts without a model)."""
    pack: Any = getattr(screener, "pack", None)
    model = getattr(pack, "model", None)
    if model is None:
        return [{} for _ in texts]
    from screener.text.views import BatchText

    out: list[dict[str, float]] = []
    for chunk in _batches(texts, batch):
        probs = model.predict(BatchText.build(pack.folding, chunk))
        names = model.categories
        out.extend(dict(zip(names, row[1:].tolist(), strict=True)) for row in probs)
    return out


def _results(
    rows: Sequence[Row], verdicts: Sequence[VerdictLike], model: Sequence[Mapping[str, float]]
) -> list[RowResult]:
    out = []
    for row, verdict, probs in zip(rows, verdicts, model, strict=True):
        findings = getattr(verdict, "findings", ())
        out.append(RowResult(
            row.label, row.text, verdict.category if verdict.flagged else None,
            float(getattr(verdict, "score", 0.0)), tuple(f.rule for f in findings), probs,
        ))  # fmt: skip
    return out


def as_screener(pack_or_engine: object) -> Screener:
    """An engine as is; a compiled `RulePack` wrapped in `screener.engine.Engine`."""
    if hasattr(pack_or_engine, "screen_texts"):
        return cast(Screener, pack_or_engine)
    from screener.engine import Engine
    from screener.rules import RulePack

    if not isinstance(pack_or_engine, RulePack):
        raise TypeError(f"expected a RulePack or an engine, got {type(pack_or_engine).__name__}")
    return Engine(pack_or_engine)


def evaluate(
    pack_or_engine: object,
    datasets: Iterable[Path | str],
    *,
    limit: int | None = None,
    accept: Mapping[str, frozenset[str]] | None = None,
    batch: int = DEFAULT_BATCH,
    part: str = "all",
) -> Report:
    """Screen every row of every dataset (files or directories) and score the verdicts.

    `part` keeps only the `tune` or `held` part of each file (`all`: every row); `limit`
    applies before the split.
    """
    screener = as_screener(pack_or_engine)
    reports: list[DatasetReport] = []
    for path in find_datasets(Path(p) for p in datasets):
        scheme = scheme_for(path)
        assert scheme is not None
        rows = select(read_tsv(path, limit), part)
        texts = [r.text for r in rows]
        started = time.perf_counter()
        verdicts = screen_all(screener, texts, batch)
        elapsed = time.perf_counter() - started
        report = score_dataset(path.name, scheme, rows, verdicts, accept, elapsed)
        results = _results(rows, verdicts, model_scores(screener, texts, batch))
        reports.append(replace(report, results=results))
    pack = getattr(screener, "pack", pack_or_engine)
    return Report(reports, str(getattr(pack, "version", "")), dict(accept or {}), part)


# --- rendering --------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _fpr(x: float) -> str:
    return f"{100 * x:.2f}%"


def _rate(x: float) -> str:
    return f"{x:.3f}"


def render_markdown(report: Report) -> str:
    """The report as Markdown: one row per dataset × category, then categories pooled."""
    lines = []
    if report.rules_version:
        lines += [f"Rules version: `{report.rules_version}`", ""]
    lines += [
        "| dataset | category | positives | precision | recall | F1 | any-flag recall "
        "| benign | FPR |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ds in report.datasets:
        for name, s in ds.scores.items():
            lines.append(
                f"| {ds.name} | {name} | {s.positives} | {_rate(s.precision)} | "
                f"{_rate(s.recall)} | {_rate(s.f1)} | {_pct(s.any_flag_recall)} | "
                f"{s.benign} | {_fpr(s.fpr)} |"
            )
        lines.append(
            f"| {ds.name} | *all benign* | – | – | – | – | – | {ds.benign} | {_fpr(ds.fpr)} |"
        )
    lines += [
        "",
        "Pooled over the datasets that have the category (FPR: benign rows of all datasets "
        "flagged as that category; spam: benign rows of the SMS sets flagged at all):",
        "",
        "| category | positives | precision | recall | F1 | any-flag recall | FPR |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in sorted(report.by_category().items()):
        lines.append(
            f"| {name} | {s.positives} | {_rate(s.precision)} | {_rate(s.recall)} | "
            f"{_rate(s.f1)} | {_pct(s.any_flag_recall)} | {_fpr(s.fpr)} |"
        )
    flagged = Counter[str]()
    for ds in report.datasets:
        flagged.update(ds.flagged_as)
    if flagged:
        shown = ", ".join(f"{c} {n}" for c, n in flagged.most_common())
        lines += ["", f"Flagged rows by verdict category (all datasets): {shown}."]
    return "\n".join(lines) + "\n"


def headline(report: Report) -> list[tuple[str, float, bool]]:
    """(measure, value, is a rate shown as %) — the figures the README's summary states."""
    out: list[tuple[str, float, bool]] = []
    for ds in report.datasets:
        key = ds.scheme.name
        if key == "chineseharm":
            six = six_class_scores(ds.results)
            out += [
                (f"{ds.name}: harmful-vs-benign F1", six.harmful.f1, False),
                (f"{ds.name}: harmful-vs-benign precision", six.harmful.precision, False),
                (f"{ds.name}: harmful-vs-benign recall", six.harmful.recall, False),
                (f"{ds.name}: benign FPR", six.harmful.fpr, True),
                (f"{ds.name}: six-class macro-F1", six.macro_f1, False),
            ]
        elif key == "en_sms_spam":
            out.append((f"{ds.name}: spam F1", ds.scores["spam"].f1 if ds.scores else 0.0, False))
            out.append((f"{ds.name}: ham flagged", ds.fpr, True))
        else:
            what = {"cn_sms_spam": "ham", "cold": "non-offensive", "swsr": "non-sexist"}[key]
            out.append((f"{ds.name}: {what} flagged", ds.fpr, True))
            if key == "cn_sms_spam" and ds.scores:
                out.append((f"{ds.name}: spam any-flag recall", ds.scores["spam"].recall, False))
    return out


def _value(x: float, rate: bool) -> str:
    return f"{100 * x:.2f}%" if rate else f"{x:.3f}"


def render_headline(report: Report, compare: Report | None = None) -> str:
    """The headline figures as Markdown; with `compare`, side by side with a delta."""
    ours = headline(report)
    lines = [f"Part: `{report.part}` of each file; rules version `{report.rules_version}`."]
    if compare is not None:
        theirs = dict((m, v) for m, v, _ in headline(compare))
        lines += [f"Compared with `{compare.rules_version}`.", "",
                  "| measure | this | compared | Δ |", "|---|---:|---:|---:|"]  # fmt: skip
        for measure, value, rate in ours:
            old = theirs.get(measure)
            if old is None:
                lines.append(f"| {measure} | {_value(value, rate)} | – | – |")
                continue
            delta = value - old
            shown = f"{100 * delta:+.2f} pp" if rate else f"{delta:+.3f}"
            lines.append(f"| {measure} | {_value(value, rate)} | {_value(old, rate)} | {shown} |")
    else:
        lines += ["", "| measure | value |", "|---|---:|"]
        lines += [f"| {m} | {_value(v, r)} |" for m, v, r in ours]
    return "\n".join(lines) + "\n"


def render_details(report: Report, n_worst: int) -> str:
    """Confusion matrix of the ChineseHarm sets and the worst errors of every set."""
    lines: list[str] = []
    for ds in report.datasets:
        if ds.scheme.name == "chineseharm":
            lines += ["", *render_six_class(ds.name, six_class_scores(ds.results))]
        if n_worst > 0:
            gold_of = {label: g for label in {r.label for r in ds.results}
                       if (g := ds.scheme.gold(label)) not in (None, BENIGN)}  # fmt: skip
            fps, fns = worst(ds.results, ds.scheme.benign, gold_of, n_worst)
            block = render_worst(ds.name, fps, fns)
            if block:
                lines += ["", *block]
    return "\n".join(lines) + "\n"


# --- command line -----------------------------------------------------------------------------


def shadow_section(
    pack: RulePack, datasets: Sequence[Path], *, limit: int | None = None, part: str = "held"
) -> str:
    """`screener eval --shadow`: per labelled file, what enforcing the shadow rules would add."""
    from screener.measure.shadow_eval import shadow_impact

    out = ["## Shadow rules", ""]
    for path in datasets:
        scheme = scheme_for(path)
        if scheme is None:
            continue
        rows = [r for r in select(read_tsv(path, limit), part) if scheme.gold(r.label)]
        harmful = [scheme.gold(r.label) != BENIGN for r in rows]
        impact = shadow_impact(pack, [r.text for r in rows], harmful)
        out += [f"### {path.name} ({part} part)", "", impact.render()]
    return "\n".join(out) + "\n"


def _parse_accept(items: Sequence[str]) -> dict[str, frozenset[str]]:
    accept: dict[str, set[str]] = {}
    for item in items:
        gold, sep, extra = item.partition("=")
        if not sep or not gold or not extra:
            raise argparse.ArgumentTypeError(f"--accept wants GOLD=CAT[,CAT], got {item!r}")
        accept.setdefault(gold, set()).update(c for c in extra.split(",") if c)
    return {k: frozenset(v) for k, v in accept.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m screener.measure.evaluate",
        description="Precision / recall / F1 / FPR of rule packs on labelled TSV corpora.",
    )
    parser.add_argument("--rules", nargs="+", default=[str(DEFAULT_RULES)], metavar="PATH")
    parser.add_argument("--model", metavar="DIR", help="learned model replacing the packs' one")
    parser.add_argument(
        "--part",
        choices=PARTS,
        default="held",
        help="part of each file's fixed split to report (default: held)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="OLD_PACK",
        help="also evaluate these packs and show the headline side by side",
    )
    parser.add_argument("--compare-model", metavar="DIR", help="model for --compare packs")
    parser.add_argument("--shadow", action="store_true",
                        help="also show what the packs' `mode: shadow` rules would change "
                             "if they acted")  # fmt: skip
    parser.add_argument("--worst", type=int, default=8, help="worst FPs/FNs shown per file")
    parser.add_argument("--headline-only", action="store_true",
                        help="print only the headline figures")  # fmt: skip
    parser.add_argument(
        "--data", nargs="+", default=None, metavar="PATH",
        help=f"TSV files or directories (default: {DEFAULT_DATA} if it exists)",
    )  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each file")
    parser.add_argument("--accept", action="append", default=[], metavar="GOLD=CAT[,CAT]")
    args = parser.parse_args(argv)
    data = args.data
    if data is None:
        if not DEFAULT_DATA.is_dir():
            print(f"no evaluation data: pass --data DIR_OR_TSV (labelled TSV corpora; the "
                  f"default {DEFAULT_DATA} does not exist)", file=sys.stderr)  # fmt: skip
            return 2
        data = [str(DEFAULT_DATA)]
    paths = find_datasets(Path(p) for p in data)
    if not paths:
        print("no labelled TSV files with a known scheme found", file=sys.stderr)
        return 2
    from screener.rules import PackError, load_packs

    try:
        pack = load_packs(args.rules, model=args.model)
        old = load_packs(args.compare, model=args.compare_model) if args.compare else None
    except PackError as exc:
        print(exc, file=sys.stderr)
        return 1
    accept = _parse_accept(args.accept)
    report = evaluate(pack, paths, limit=args.limit, accept=accept, part=args.part)
    compared = (
        evaluate(old, paths, limit=args.limit, accept=accept, part=args.part)
        if old is not None else None
    )  # fmt: skip
    sys.stdout.write(render_headline(report, compared))
    if not args.headline_only:
        sys.stdout.write("\n" + render_markdown(report))
        sys.stdout.write(render_details(report, args.worst))
    if args.shadow:
        from screener.measure.shadow_eval import enforced

        acting = evaluate(enforced(pack), paths, limit=args.limit, accept=accept, part=args.part)
        sys.stdout.write("\nWith the shadow rules enforced (vs. as they are):\n")
        sys.stdout.write(render_headline(acting, report))
        sys.stdout.write("\n" + shadow_section(pack, paths, limit=args.limit, part=args.part))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
