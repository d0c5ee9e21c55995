"""Fit a `LinearModel`: softmax regression over hashed n-grams, trained with Adam in numpy.

Training data is a list of (text, class) pairs; `benign` is the class of everything that is
not a violation. The same featurisation as inference (`features.py`, through the engine's
folding) is used, so a model scores exactly what it was trained on. Plain numpy keeps the
project free of a machine-learning dependency; the fit is one pass of hashing and a few dozen
epochs of mini-batch gradient steps (bincount scatter per class), seconds for 10^5 messages.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from screener.model.features import batch_ngrams, scale, segment_sums
from screener.model.linear import BENIGN, LinearModel
from screener.text.folding import Folding
from screener.text.views import BatchText

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainConfig:
    orders: tuple[int, ...] = (1, 2, 3)
    bits: int = 18
    epochs: int = 12
    batch: int = 1024
    learning_rate: float = 0.02
    l2: float = 1e-6
    class_power: float = 0.5
    """class weight = (largest class / class size) ** power: 0 none, 1 fully balanced."""
    seed: int = 7
    min_ngrams: int = 1
    """minimum-evidence guard (see `features.scale`), used in training and stored for inference."""
    digit_class: bool = False
    """read every digit as `0` (see `features.batch_ngrams`)."""
    mark_orders: tuple[int, ...] = ()
    """n-gram orders over what folding changed (see `features.marks`)."""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Rows:
    """A CSR view of the training set's features."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    scale: npt.NDArray[np.float32]


def featurize(
    folding: Folding,
    texts: Sequence[str],
    orders: tuple[int, ...],
    bits: int,
    chunk: int = 4096,
    min_ngrams: int = 1,
    digit_class: bool = False,
    mark_orders: tuple[int, ...] = (),
) -> _Rows:
    """Every text's n-gram buckets, grouped per text (CSR), and its 1/sqrt(count) scale."""
    indptr = [np.zeros(1, dtype=np.int64)]
    indices: list[npt.NDArray[np.int64]] = []
    scales: list[npt.NDArray[np.float32]] = []
    offset = 0
    for lo in range(0, len(texts), chunk):
        batch = BatchText.build(folding, list(texts[lo : lo + chunk]))
        parts = batch_ngrams(batch, orders, bits, digit_class, mark_orders)
        n = len(parts[0].starts) - 1
        owner = np.concatenate([np.repeat(np.arange(n), np.diff(p.starts)) for p in parts])
        order = np.argsort(owner, kind="stable")
        indices.append(np.concatenate([p.buckets for p in parts])[order])
        counts = np.bincount(owner, minlength=n)
        indptr.append(offset + np.cumsum(counts))
        offset += int(counts.sum())
        scales.append(scale(parts, min_ngrams))
    return _Rows(np.concatenate(indptr), np.concatenate(indices) if indices else
                 np.zeros(0, np.int64), np.concatenate(scales) if scales else
                 np.zeros(0, np.float32))  # fmt: skip


def fit(
    folding: Folding,
    texts: Sequence[str],
    labels: Sequence[str],
    config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
) -> LinearModel:
    """Train on (text, class) pairs; classes other than `benign` become the categories."""
    if len(texts) != len(labels) or not texts:
        raise ValueError("training needs as many labels as texts, and at least one text")
    counts = Counter(labels)
    if BENIGN not in counts or len(counts) < 2:
        raise ValueError("training needs benign rows and rows of at least one category")
    classes = (BENIGN, *sorted(c for c in counts if c != BENIGN))
    index = {c: i for i, c in enumerate(classes)}
    order = list(range(len(texts)))
    random.Random(config.seed).shuffle(order)
    shuffled = [texts[i] for i in order]
    y = np.array([index[labels[i]] for i in order], dtype=np.int64)
    rows = featurize(
        folding, shuffled, config.orders, config.bits, min_ngrams=config.min_ngrams,
        digit_class=config.digit_class, mark_orders=config.mark_orders,
    )  # fmt: skip
    biggest = max(counts.values())
    class_weight = np.array(
        [(biggest / counts[c]) ** config.class_power for c in classes], dtype=np.float32
    )
    k, dim = len(classes), 1 << config.bits
    w = np.zeros((dim, k), dtype=np.float32)
    prior = np.array([counts[c] for c in classes], dtype=np.float64) * class_weight
    b = np.log(prior / prior.sum()).astype(np.float32)
    adam = _Adam(w, b, config.learning_rate)
    steps = (len(texts) + config.batch - 1) // config.batch
    for epoch in range(config.epochs):
        for step in range(steps):
            lo, hi = step * config.batch, min((step + 1) * config.batch, len(texts))
            gw, gb = _gradient(rows, y, class_weight, w, b, lo, hi)
            gw += config.l2 * w
            adam.step(gw, gb)
        if progress is not None:
            progress("epochs", epoch + 1, config.epochs)
    meta = {
        **config.meta, "rows": len(texts), "class_rows": dict(sorted(counts.items())),
        "epochs": config.epochs, "learning_rate": config.learning_rate, "l2": config.l2,
    }  # fmt: skip
    return LinearModel(
        classes, config.orders, config.bits, w, b, meta, "", config.min_ngrams,
        config.digit_class, config.mark_orders,
    )  # fmt: skip


def _gradient(
    rows: _Rows,
    y: npt.NDArray[np.int64],
    class_weight: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    lo: int,
    hi: int,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Cross-entropy gradient of rows [lo, hi) (class-weighted mean)."""
    a, z = int(rows.indptr[lo]), int(rows.indptr[hi])
    ent = rows.indices[a:z]
    seg = rows.indptr[lo : hi + 1] - a
    sc = rows.scale[lo:hi]
    logits = segment_sums(w[ent], seg) * sc[:, None] + b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    yy = y[lo:hi]
    p[np.arange(hi - lo), yy] -= 1.0
    sw = class_weight[yy]
    p *= (sw / sw.sum())[:, None]
    gb = p.sum(axis=0)
    owner = np.repeat(np.arange(hi - lo), np.diff(seg))
    per_entry = sc[owner]
    gw = np.empty_like(w)
    for c in range(w.shape[1]):
        gw[:, c] = np.bincount(ent, weights=p[owner, c] * per_entry, minlength=w.shape[0])
    return gw, gb


class _Adam:
    """Adam (Kingma & Ba) over the weight matrix and the bias, updated in place."""

    def __init__(self, w: npt.NDArray[np.float32], b: npt.NDArray[np.float32], lr: float):
        self.w, self.b, self.lr, self.t = w, b, lr, 0
        self.m = [np.zeros_like(w), np.zeros_like(b)]
        self.v = [np.zeros_like(w), np.zeros_like(b)]

    def step(self, gw: npt.NDArray[np.float32], gb: npt.NDArray[np.float32]) -> None:
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        corr = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for param, grad, m, v in zip((self.w, self.b), (gw, gb), self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            param -= corr * m / (np.sqrt(v) + eps)
