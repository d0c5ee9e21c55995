"""A compact softmax-linear model over hashed n-grams, stored as plain arrays plus JSON.

A model is a directory with two files:

- `model.json`: format, categories (the classes other than `benign`), n-gram orders, hash
  bits, what it was trained on, and the SHA-256 of the weights file;
- `weights.npz`: `W` (2^bits × classes, float32 or float16) and `b` (classes), read with
  `allow_pickle=False`.

Loading checks sizes (files, zip members, shapes) before reading the arrays, refuses pickled
or non-finite data and a weights file whose hash differs from the metadata, so a model file is
as safe to load as a rule pack. `version` (a hash of both files) goes into the pack's
`rules_version`: swapping a model changes the version verdicts carry.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from screener.model.features import scale_counts
from screener.model.kernel import weight_sums
from screener.regular_files import Unreadable, read_regular
from screener.text.views import BatchText

FORMAT = "screener-linear-1"
BENIGN = "benign"
META_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
MAX_META_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 256 << 20
MAX_BITS = 22
MAX_CLASSES = 64
MAX_ORDER = 6

Matrix = npt.NDArray[np.float32]


class ModelError(ValueError):
    """A model directory that cannot be loaded (the message says which file and why)."""


@dataclass(frozen=True, eq=False)
class LinearModel:
    """Class scores = softmax(b + scale · Σ W[bucket]) over a message's n-grams."""

    classes: tuple[str, ...]
    """`benign` first, then the categories rules can read as `model.<category>`."""
    orders: tuple[int, ...]
    bits: int
    weights: Matrix
    bias: Matrix
    meta: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    min_ngrams: int = 1
    """minimum-evidence guard of `features.scale` (1: none; models before it had none)."""
    digit_class: bool = False
    """every digit read as `0` (`features.batch_ngrams`); models before it read digits as is."""
    mark_orders: tuple[int, ...] = ()
    """n-gram orders over `features.marks` (what folding changed); none before it existed."""
    _table: Matrix = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The weights padded to a power-of-two row width (8 floats = 32 bytes for up to eight
        # classes): `np.take` copies such rows on its fast path. Measured on a 108k-n-gram
        # batch: 6-wide rows 25 ms with take (130 ms with fancy indexing), 8-wide 4.4 ms.
        width = 1 << max(len(self.classes) - 1, 0).bit_length()
        table = np.zeros((self.weights.shape[0], max(width, 2)), dtype=np.float32)
        table[:, : len(self.classes)] = self.weights
        object.__setattr__(self, "_table", table)

    @property
    def categories(self) -> tuple[str, ...]:
        return self.classes[1:]

    def logits(self, batch: BatchText) -> Matrix:
        """(messages × classes) raw scores of a batch, vectorised over the whole batch."""
        total, counts = weight_sums(
            batch, self._table, self.orders, self.bits, self.digit_class, self.mark_orders
        )
        out = total[:, : len(self.classes)] * scale_counts(counts, self.min_ngrams)[:, None]
        out += self.bias
        return out

    def predict(self, batch: BatchText) -> Matrix:
        """(messages × classes) probabilities; column 0 is `benign`."""
        z = self.logits(batch)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z


def save(model: LinearModel, out: Path) -> LinearModel:
    """Write `out/model.json` and `out/weights.npz`; return the model with its version."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_FILE
    with weights.open("wb") as fh:
        np.savez(fh, W=model.weights.astype(np.float32), b=model.bias.astype(np.float32))
    meta = {
        **model.meta,
        "format": FORMAT,
        "classes": list(model.classes),
        "orders": list(model.orders),
        "bits": model.bits,
        "min_ngrams": model.min_ngrams,
        "digit_class": model.digit_class,
        "mark_orders": list(model.mark_orders),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return load(out)


def _read_limited(path: Path, limit: int) -> bytes:
    try:  # a regular file only: a FIFO or device named as a model file would block a read
        return read_regular(path, limit)
    except Unreadable as exc:
        raise ModelError(f"{path}: model file: {exc}") from None


def _meta(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a {FORMAT} model (format {meta.get('format')!r})")
    classes, orders, bits = meta.get("classes"), meta.get("orders"), meta.get("bits")
    if not (
        isinstance(classes, list) and 2 <= len(classes) <= MAX_CLASSES
        and all(isinstance(c, str) and c.isidentifier() for c in classes)
        and classes[0] == BENIGN and len(set(classes)) == len(classes)
    ):  # fmt: skip
        raise ModelError(f"{path}: classes must be 2–{MAX_CLASSES} distinct names, `benign` first")
    if not (
        isinstance(orders, list) and orders
        and all(isinstance(k, int) and 1 <= k <= MAX_ORDER for k in orders)
    ):  # fmt: skip
        raise ModelError(f"{path}: orders must be a non-empty list of 1..{MAX_ORDER}")
    if not (isinstance(bits, int) and 8 <= bits <= MAX_BITS):
        raise ModelError(f"{path}: bits must be an integer in 8..{MAX_BITS}")
    floor = meta.get("min_ngrams", 1)
    if not (isinstance(floor, int) and not isinstance(floor, bool) and 1 <= floor <= 4096):
        raise ModelError(f"{path}: min_ngrams must be an integer in 1..4096")
    if not isinstance(meta.get("digit_class", False), bool):
        raise ModelError(f"{path}: digit_class must be true or false")
    marks = meta.get("mark_orders", [])
    if not (
        isinstance(marks, list) and len(marks) <= MAX_ORDER
        and all(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= MAX_ORDER
                for k in marks)
    ):  # fmt: skip
        raise ModelError(f"{path}: mark_orders must be a list of 1..{MAX_ORDER}")
    return meta


def load(path: Path | str) -> LinearModel:
    """Load and check a model directory (see the module docstring for what is checked)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelError(f"{root}: a model is a directory with {META_FILE} and {WEIGHTS_FILE}")
    meta_raw = _read_limited(root / META_FILE, MAX_META_BYTES)
    meta = _meta(root / META_FILE, meta_raw)
    wpath = root / WEIGHTS_FILE
    raw = _read_limited(wpath, MAX_WEIGHTS_BYTES)
    if hashlib.sha256(raw).hexdigest() != meta.get("weights_sha256"):
        raise ModelError(f"{wpath}: SHA-256 differs from weights_sha256 in {META_FILE}")
    classes, bits = tuple(meta["classes"]), int(meta["bits"])
    shapes = {"W": (1 << bits, len(classes)), "b": (len(classes),)}
    try:
        with zipfile.ZipFile(wpath) as zf:
            members = {i.filename: i.file_size for i in zf.infolist()}
        if set(members) != {"W.npy", "b.npy"} or sum(members.values()) > MAX_WEIGHTS_BYTES:
            raise ModelError(f"{wpath}: want exactly W.npy and b.npy within the size limit")
        with np.load(wpath, allow_pickle=False) as arrays:
            w, b = arrays["W"], arrays["b"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{wpath}: cannot read arrays: {exc}") from None
    for name, arr in (("W", w), ("b", b)):
        if arr.shape != shapes[name] or arr.dtype not in (np.float32, np.float16):
            raise ModelError(
                f"{wpath}: {name} is {arr.dtype}{arr.shape}, want float32{shapes[name]}"
            )
        if not np.isfinite(arr).all():
            raise ModelError(f"{wpath}: {name} has non-finite values")
    version = hashlib.sha256(meta_raw + raw).hexdigest()
    return LinearModel(
        classes, tuple(meta["orders"]), bits, np.ascontiguousarray(w, dtype=np.float32),
        np.ascontiguousarray(b, dtype=np.float32), meta, f"sha256:{version}",
        int(meta.get("min_ngrams", 1)), bool(meta.get("digit_class", False)),
        tuple(meta.get("mark_orders", [])),
    )  # fmt: skip
