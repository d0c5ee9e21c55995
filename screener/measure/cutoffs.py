"""Replay the engine's verdicts over out-of-fold rows for any model thresholds, and search them.

A model rule `model.<c>` (score and category from `model.yaml`) fires on a row when it fired
at the near-zero threshold of `crossval.run` (so `news_or_warning` did not stop it) and the
probability of c is above the threshold. The verdict is then the engine's: categories ranked
by summed score in the order the rules fired, flagged when the sum reaches the review
threshold or a rule's own action says so. Everyday files only need "flagged at all", which is
one array comparison; ChineseHarm's few hundred rows are replayed one by one.

The search is the README's: per category, a coordinate search over a grid from several
starting points for the best ChineseHarm macro-F1 + F1, subject to at most `--max-benign`
ChineseHarm benign rows flagged, Chinese SMS ham ≤ `--max-sms` and each COLD file's
non-offensive rows ≤ `--max-cold` (margins under the targets' 0.5% / 1%).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

from screener.measure.quality import RowResult, six_class_scores

MODEL_RULE = "model."
GRID = (*(round(0.05 * k, 2) for k in range(1, 20)), 1.0)
"""thresholds tried per category (1.0: the rule never fires)."""
REVIEW = 5.0
"""the packs' review threshold (`common.yaml`): a sum of scores from here is flagged."""
BENIGN_LABELS = {"cn_sms_spam": "0", "en_sms_spam": "ham", "cold": "0", "swsr": "0"}


@dataclass(frozen=True, slots=True)
class OutOfFold:
    """One tune-part row screened by a model that never saw its fold."""

    file: str
    label: str
    fold: int
    findings: tuple[tuple[str, str, float, int], ...]
    """every enforced finding in the engine's order: (rule, category, score, action floor)."""
    probs: dict[str, float]
    """the model's probability per category."""
    text: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps({
            "file": self.file, "label": self.label, "fold": self.fold,
            "findings": self.findings, "probs": self.probs, "text": self.text,
        })  # fmt: skip

    @staticmethod
    def from_json(raw: bytes) -> OutOfFold:
        d = orjson.loads(raw)
        findings = tuple((str(r), str(c), float(s), int(f)) for r, c, s, f in d["findings"])
        probs = dict(d["probs"])
        return OutOfFold(d["file"], d["label"], int(d["fold"]), findings, probs, d.get("text", ""))


def read(path: Path) -> list[OutOfFold]:
    return [OutOfFold.from_json(line) for line in path.read_bytes().splitlines() if line]


@dataclass(frozen=True)
class Figures:
    """The out-of-fold figures the limits and the objective are stated in."""

    f1: float
    macro_f1: float
    benign_rows: int
    everyday: dict[str, float]
    """file → share of its benign rows flagged."""

    def row(self) -> str:
        daily = " / ".join(f"{k} {100 * v:.2f}%" for k, v in sorted(self.everyday.items()))
        return f"F1 {self.f1:.3f}  macro-F1 {self.macro_f1:.3f}  benign {self.benign_rows}  {daily}"


def _kind(file: str) -> str:
    return next((k for k in ("chineseharm", *BENIGN_LABELS) if file.startswith(k)), "")


class Replay:
    """Out-of-fold rows arranged for fast replays."""

    def __init__(self, rows: Sequence[OutOfFold], categories: Sequence[str]):
        self.categories = tuple(categories)
        self.harm = [r for r in rows if _kind(r.file) == "chineseharm"]
        daily = [r for r in rows if _kind(r.file) in BENIGN_LABELS
                 and r.label == BENIGN_LABELS[_kind(r.file)]]  # fmt: skip
        self.files = sorted({r.file for r in daily})
        self.file_of = np.array([self.files.index(r.file) for r in daily], dtype=np.int64)
        self.pack_flagged = np.array([_flagged(r, {}) for r in daily], dtype=np.bool_)
        # probability where the model rule may fire, 0 where it may not
        self.probs: npt.NDArray[np.float32] = np.array(
            [[r.probs.get(c, 0.0) if _may_fire(r, c) else 0.0 for c in self.categories]
             for r in daily], dtype=np.float32,
        ).reshape(len(daily), len(self.categories))  # fmt: skip
        self.sizes = np.bincount(self.file_of, minlength=len(self.files))

    def figures(self, thresholds: Mapping[str, float]) -> Figures:
        t = np.array([thresholds[c] for c in self.categories], dtype=np.float32)
        flagged = self.pack_flagged | (self.probs > t).any(axis=1)
        hits = np.bincount(self.file_of, weights=flagged, minlength=len(self.files))
        everyday = {f: float(h / n) if n else 0.0
                    for f, h, n in zip(self.files, hits, self.sizes, strict=True)}  # fmt: skip
        results = [RowResult(r.label, "", _category(r, thresholds), 0.0, ()) for r in self.harm]
        six = six_class_scores(results)
        return Figures(six.harmful.f1, six.macro_f1, six.harmful.fp, everyday)


def _may_fire(row: OutOfFold, category: str) -> bool:
    return any(f[0].startswith(MODEL_RULE) and f[1] == category for f in row.findings)


def _fired(row: OutOfFold, thresholds: Mapping[str, float]) -> list[tuple[str, str, float, int]]:
    return [f for f in row.findings if not f[0].startswith(MODEL_RULE)
            or row.probs.get(f[1], 0.0) > thresholds.get(f[1], 1.0)]  # fmt: skip


def _flagged(row: OutOfFold, thresholds: Mapping[str, float]) -> bool:
    fired = _fired(row, thresholds)
    return bool(fired) and (sum(f[2] for f in fired) >= REVIEW or max(f[3] for f in fired) > 0)


def _category(row: OutOfFold, thresholds: Mapping[str, float]) -> str | None:
    """The verdict category the engine would give (None: not flagged)."""
    fired = _fired(row, thresholds)
    if not fired or not (sum(f[2] for f in fired) >= REVIEW or max(f[3] for f in fired) > 0):
        return None
    scores: dict[str, float] = {}
    for _, category, score, _ in fired:
        scores[category] = scores.get(category, 0.0) + score
    return max(scores, key=lambda c: scores[c])  # first of the highest, as the engine ranks


@dataclass(frozen=True)
class Limits:
    max_benign: int = 1
    max_sms: float = 0.0042
    max_cold: float = 0.0085

    def excess(self, fig: Figures) -> float:
        """How far over the limits (0: within them)."""
        over = max(fig.benign_rows - self.max_benign, 0) / 100
        for file, rate in fig.everyday.items():
            limit = (self.max_sms if file.startswith("cn_sms") else
                     self.max_cold if file.startswith("cold") else None)  # fmt: skip
            if limit is not None:
                over += max(rate - limit, 0.0)
        return over


def objective(fig: Figures, limits: Limits) -> float:
    excess = limits.excess(fig)
    return fig.macro_f1 + fig.f1 if excess == 0 else -excess


def search(
    replay: Replay, limits: Limits, starts: Sequence[Mapping[str, float]]
) -> tuple[dict[str, float], Figures]:
    """Coordinate search from each start; the best feasible thresholds found."""
    best: tuple[float, dict[str, float]] | None = None
    for start in starts:
        t = dict(start)
        value = objective(replay.figures(t), limits)
        improved = True
        while improved:
            improved = False
            for c in replay.categories:
                for g in GRID:
                    trial = {**t, c: g}
                    v = objective(replay.figures(trial), limits)
                    if v > value + 1e-9:
                        t, value, improved = trial, v, True
        if best is None or value > best[0]:
            best = (value, t)
    assert best is not None
    return best[1], replay.figures(best[1])


def _parse(text: str) -> dict[str, float]:
    out = {}
    for pair in text.split(","):
        k, _, v = pair.partition("=")
        out[k.strip()] = float(v)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("oof", type=Path, help="out-of-fold rows written by `run`")
    parser.add_argument("--thresholds", help="only replay these (cat=value,...), no search")
    parser.add_argument("--start", action="append", default=[],
                        help="extra starting point cat=value,... (repeatable)")  # fmt: skip
    parser.add_argument("--max-benign", type=int, default=Limits.max_benign)
    parser.add_argument("--max-sms", type=float, default=Limits.max_sms)
    parser.add_argument("--max-cold", type=float, default=Limits.max_cold)


def main(args: argparse.Namespace, rows: Sequence[OutOfFold]) -> int:
    categories = sorted({c for r in rows for c in r.probs})
    replay = Replay(rows, categories)
    if args.thresholds:
        t = {c: 1.0 for c in categories} | _parse(args.thresholds)
        print(_show(t), "|", replay.figures(t).row())
        return 0
    limits = Limits(args.max_benign, args.max_sms, args.max_cold)
    starts = [{c: v for c in categories} for v in (0.3, 0.5, 0.7)]
    starts += [{c: 0.5 for c in categories} | _parse(s) for s in args.start]
    t, fig = search(replay, limits, starts)
    feasible = "within the limits" if limits.excess(fig) == 0 else "OVER THE LIMITS"
    print(_show(t), "|", fig.row(), "|", feasible)
    return 0


def _show(t: Mapping[str, float]) -> str:
    return " ".join(f"{c}={v:g}" for c, v in sorted(t.items()))
