"""The headline figures of `screener eval`: what the README's quality table and the issue's
targets are stated in.

- ChineseHarm as a six-class task: each verdict maps to one of the benchmark's labels
  (`SIX_CLASS`: our porn and solicitation → porn, fraud and extortion → fraud, gambling,
  illicit_ads and abuse as themselves, unflagged → fine); macro-F1 is the mean F1 of the six
  labels, `fine` included, as the benchmark's authors report it. Also harmful-vs-benign
  (flagged at all vs `fine`) precision/recall/F1 and the benign false-positive rate, and the
  confusion matrix.
- Everyday text: the share of benign rows flagged (Chinese SMS ham, COLD non-offensive, SWSR
  non-sexist); English SMS spam F1 (any flag counts).
- The worst false positives (highest verdict score) and false negatives (lowest model
  probability of the gold category, else file order), each with the rules that fired and the
  model's probabilities: what decided them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

FINE = "fine"
SIX_LABELS = ("illicit_ads", "fraud", "gambling", "porn", "abuse", FINE)
SIX_CLASS: dict[str, str] = {
    "porn": "porn", "solicitation": "porn", "fraud": "fraud", "extortion": "fraud",
    "gambling": "gambling", "illicit_ads": "illicit_ads", "abuse": "abuse",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RowResult:
    """One screened row, with what decided its verdict."""

    label: str
    text: str
    category: str | None
    score: float
    rules: tuple[str, ...]
    model: Mapping[str, float] = field(default_factory=dict)

    def decided_by(self) -> str:
        parts = list(self.rules)
        if self.model:
            top = sorted(self.model.items(), key=lambda kv: -kv[1])[:2]
            parts.append("model " + " ".join(f"{c}={p:.2f}" for c, p in top))
        return "; ".join(parts) or "–"


def six_class(category: str | None) -> str:
    return SIX_CLASS.get(category or "", "illicit_ads") if category else FINE


@dataclass(frozen=True)
class Binary:
    tp: int
    fp: int
    fn: int
    negatives: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / self.negatives if self.negatives else 0.0


@dataclass(frozen=True)
class SixClass:
    """ChineseHarm's six-label view of one run."""

    confusion: dict[tuple[str, str], int]
    """(gold label, predicted label) → rows."""
    harmful: Binary

    def f1(self, label: str) -> float:
        tp = self.confusion.get((label, label), 0)
        fp = sum(n for (g, p), n in self.confusion.items() if p == label and g != label)
        fn = sum(n for (g, p), n in self.confusion.items() if g == label and p != label)
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    @property
    def macro_f1(self) -> float:
        return sum(self.f1(label) for label in SIX_LABELS) / len(SIX_LABELS)


def six_class_scores(rows: Sequence[RowResult]) -> SixClass:
    confusion = Counter((r.label, six_class(r.category)) for r in rows if r.label in SIX_LABELS)
    tp = sum(n for (g, p), n in confusion.items() if g != FINE and p != FINE)
    fp = sum(n for (g, p), n in confusion.items() if g == FINE and p != FINE)
    fn = sum(n for (g, p), n in confusion.items() if g != FINE and p == FINE)
    negatives = sum(n for (g, _), n in confusion.items() if g == FINE)
    return SixClass(dict(confusion), Binary(tp, fp, fn, negatives))


def worst(
    rows: Sequence[RowResult], benign: frozenset[str], gold_of: Mapping[str, str], n: int = 8
) -> tuple[list[RowResult], list[RowResult]]:
    """(false positives by falling verdict score, false negatives by rising model probability
    of their gold category): the rows most worth reading when tuning."""
    fps = [r for r in rows if r.label in benign and r.category is not None]
    fps.sort(key=lambda r: -r.score)
    fns = [r for r in rows if r.label not in benign and r.label in gold_of and r.category is None]
    fns.sort(key=lambda r: r.model.get(gold_of[r.label], 0.0))
    return fps[:n], fns[:n]


def render_six_class(name: str, six: SixClass) -> list[str]:
    h = six.harmful
    lines = [
        f"**{name}** — six-class macro-F1 **{six.macro_f1:.3f}**; harmful vs benign: "
        f"precision {h.precision:.3f}, recall {h.recall:.3f}, F1 **{h.f1:.3f}**, benign FPR "
        f"**{100 * h.fpr:.2f}%** ({h.fp} of {h.negatives}).",
        "",
        "| gold \\ predicted | " + " | ".join(SIX_LABELS) + " | F1 |",
        "|---|" + "---:|" * (len(SIX_LABELS) + 1),
    ]
    for gold in SIX_LABELS:
        cells = [str(six.confusion.get((gold, p), 0)) for p in SIX_LABELS]
        lines.append(f"| {gold} | " + " | ".join(cells) + f" | {six.f1(gold):.3f} |")
    return lines


def _clip(text: str, width: int = 70) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render_worst(name: str, fps: Sequence[RowResult], fns: Sequence[RowResult]) -> list[str]:
    if not fps and not fns:
        return []
    lines = [f"Worst errors in {name}:", "", "| kind | label | verdict | decided by | text |",
             "|---|---|---|---|---|"]  # fmt: skip
    for kind, items in (("FP", fps), ("FN", fns)):
        for r in items:
            lines.append(
                f"| {kind} | {r.label} | {r.category or 'clean'} ({r.score:g}) | "
                f"{_clip(r.decided_by(), 60)} | {_clip(r.text)} |"
            )
    return lines
