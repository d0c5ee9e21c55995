"""The compiled n-gram pass (`screener/model/_ngrams.c`) against the numpy reference: the same
float32 bits and n-gram counts on random and corpus-shaped batches (empty batch and messages,
messages shorter than the order, SEP inside codes, orders 1-6, mark orders, digit class, rows
of any width, messages past numpy's 128-row pairwise block), and bad calls raise."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from screener.model import kernel
from screener.model.features import (
    _SALT,
    MARK_SALT,
    PLAIN,
    _digits_as_zero,
    marks,
    ngrams,
    segment_sums,
    sparse_ngrams,
)
from screener.model.linear import LinearModel
from screener.synthetic import corpus
from screener.text.folding import SEP, build_folding
from screener.text.views import BatchText

if kernel._ngrams is None:
    # CI builds the extension (`pip install -e .`); there its absence is a failure, not a skip
    assert os.environ.get("CI", "").lower() not in ("1", "true"), "screener.model._ngrams not built"
    pytest.skip("compiled n-gram pass not built here", allow_module_level=True)
_ngrams = kernel._ngrams

# what folding keeps, changes or drops: letters, digits, CJK (traditional too), full-width and
# circled forms, emoji and symbols, zero-width characters, punctuation, newlines, spaces
POOL = list("abcXYZ0123456789加微信黄色視頻资源約炮ｑＱ１③⓪⑩…❤⬆$+😀🀄𠀀\u200b\u200d.,!?。， \n\t-_")


@pytest.fixture(scope="module")
def folding():  # type: ignore[no-untyped-def]
    return build_folding()


def _table(rng: np.random.Generator, bits: int, width: int) -> np.ndarray:
    # values across many magnitudes and signs (some -0.0): any change of summation order or
    # rounding shows in the bits
    mag = 10.0 ** rng.integers(-6, 4, size=(1 << bits, width))
    table = (rng.standard_normal((1 << bits, width)) * mag).astype(np.float32)
    table[rng.random(table.shape) < 0.01] = -0.0
    return table


def _texts(rng: random.Random, n: int, longest: int) -> list[str]:
    sizes = [rng.choice((0, 1, 2, 3, rng.randint(0, longest))) for _ in range(n)]
    return ["".join(rng.choice(POOL) for _ in range(size)) for size in sizes]


def _same(batch: BatchText, table: np.ndarray, orders: tuple[int, ...], bits: int,
          digits: bool, marks: tuple[int, ...]) -> None:  # fmt: skip
    want, want_n = kernel.numpy_sums(batch, table, orders, bits, digits, marks)
    got, got_n = kernel.compiled_sums(batch, table, orders, bits, digits, marks)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()  # bit for bit, -0.0 included
    assert np.array_equal(got_n, want_n)


def test_random_batches_bit_identical(folding) -> None:  # type: ignore[no-untyped-def]
    rng, nrng = random.Random(5), np.random.default_rng(5)
    for trial in range(40):
        width = (8, 8, 2, 3, 1, 64)[trial % 6]  # 8: the specialised rows; others: generic
        bits = rng.choice((8, 10))
        table = _table(nrng, bits, width)
        orders = tuple(sorted(rng.sample(range(1, 7), rng.randint(1, 3))))
        marks = tuple(sorted(rng.sample(range(1, 7), rng.randint(0, 2))))
        texts = _texts(rng, rng.randint(1, 40), 400 if trial % 4 == 0 else 30)
        _same(BatchText.build(folding, texts), table, orders, bits, trial % 2 == 0, marks)


def test_every_order_and_edge_batches(folding) -> None:  # type: ignore[no-untyped-def]
    table = _table(np.random.default_rng(1), 9, 8)
    cases = [[], [""], ["", "", ""], ["a"], ["ab", "", "c"], ["加微信13812345678", "\n\n", "黄"],
             ["x" * 700, "薇❤信 ｑｑ 白③0 約炮", "1234567"]]  # fmt: skip
    for texts in cases:
        batch = BatchText.build(folding, texts)
        for k in range(1, 7):
            for digits in (False, True):
                _same(batch, table, (k,), 9, digits, (k,))
        _same(batch, table, (1, 2, 3), 9, True, (1, 2))


def test_raw_codes_with_separators_and_odd_starts() -> None:
    """Codes as the kernel may be given them: SEP anywhere, empty and leading-skipped
    messages, starts past the last n-gram (the numpy `ngrams` definition)."""
    rng, nrng = random.Random(9), np.random.default_rng(9)
    table = _table(nrng, 8, 8)
    for _ in range(200):
        length = rng.randint(0, 60)
        codes = np.array([rng.choice((SEP, PLAIN, 48, 49, 57, 97, 0x52A0, 0xFFFFFFFF))
                          for _ in range(length)], np.uint32)  # fmt: skip
        starts = np.array(sorted(rng.randint(0, length) for _ in range(rng.randint(0, 8))),
                          np.int64)  # fmt: skip
        order = rng.randint(1, 6)
        salt = rng.randrange(16)
        digits = rng.random() < 0.5
        part = ngrams(_digits_as_zero(codes) if digits else codes, starts, order, 8, salt=salt)
        want = np.zeros((len(starts), 8), np.float32)
        want += segment_sums(np.take(table, part.buckets, axis=0), part.starts)
        got = np.zeros((len(starts), 8), np.float32)
        counts = np.zeros(len(starts), np.int64)
        _ngrams.dense(codes, starts, order, int(_SALT[salt]), 8, table, got, counts, digits)
        assert got.tobytes() == want.tobytes()
        assert np.array_equal(counts, np.diff(part.starts))
        sparse = sparse_ngrams(codes, starts, order, 8, salt)
        assert sparse.plain_counts is not None
        want = np.zeros((len(starts), 8), np.float32)
        want += segment_sums(np.take(table, sparse.buckets, axis=0), sparse.starts)
        want += sparse.plain_counts[:, None] * table[sparse.plain_bucket]
        got[:] = 0
        counts[:] = 0
        _ngrams.sparse(codes, starts, order, int(_SALT[salt]), 8, table, got, counts, PLAIN)
        assert got.tobytes() == want.tobytes()
        assert np.array_equal(counts, np.diff(sparse.starts) + sparse.plain_counts)


def test_corpus_batches_and_verdicts(folding) -> None:  # type: ignore[no-untyped-def]
    """Real-shaped: the benchmark corpus, the `make model` layout (2^18 rows, 6 classes padded
    to 8, orders 1-3, digit class, marks 1-2), through `LinearModel` both ways."""
    rng = np.random.default_rng(3)
    weights = (rng.standard_normal((1 << 18, 6)) * 0.3).astype(np.float32)
    model = LinearModel(("benign", "a", "b", "c", "d", "e"), (1, 2, 3), 18, weights,
                        np.zeros(6, np.float32), min_ngrams=8, digit_class=True,
                        mark_orders=(1, 2))  # fmt: skip
    texts = corpus.messages(3000)
    for lo in range(0, len(texts), 1000):
        batch = BatchText.build(folding, texts[lo : lo + 1000])
        _same(batch, model._table, model.orders, model.bits, True, model.mark_orders)
        compiled = model.predict(batch)
        kernel.COMPILED = False  # the module's switch, restored below
        try:
            reference = model.predict(batch)
        finally:
            kernel.COMPILED = True
        assert compiled.tobytes() == reference.tobytes()
        assert np.array_equal(compiled.argmax(axis=1), reference.argmax(axis=1))


def test_the_comparison_catches_a_wrong_kernel(folding) -> None:  # type: ignore[no-untyped-def]
    """A wrong salt (another hash family) and a plain sequential sum both differ from numpy,
    so the bit-identity above is a real check of hashing and of summation order."""
    table = _table(np.random.default_rng(2), 10, 8)
    batch = BatchText.build(folding, corpus.messages(200))
    want, _ = kernel.numpy_sums(batch, table, (2,), 10)
    codes, starts = batch.codes("compact"), batch.message_starts("compact")
    got = np.zeros_like(want)
    counts = np.zeros(len(starts), np.int64)
    _ngrams.dense(codes, starts, 2, int(_SALT[3]), 10, table, got, counts, False)
    assert not np.array_equal(got, want)
    part = ngrams(codes, starts, 2, 10)
    rows = np.take(table, part.buckets, axis=0)
    bounds = zip(part.starts[:-1], part.starts[1:], strict=True)
    sequential = np.array([np.cumsum(rows[a:b], axis=0, dtype=np.float32)[-1] if b > a
                           else np.zeros(8, np.float32) for a, b in bounds])  # fmt: skip
    assert sequential.tobytes() != want.tobytes()


def test_compiled_marks(folding) -> None:  # type: ignore[no-untyped-def]
    """The marks codes and starts as `features.marks` gives them, expanded messages too."""
    rng = random.Random(8)
    for trial in range(300):
        texts = _texts(rng, rng.randint(0, 30), 60) + (["⑩…😀"] if trial % 3 == 0 else [])
        batch = BatchText.build(folding, texts)
        want, got = marks(batch), kernel.compiled_marks(batch)
        assert got[0].dtype == want[0].dtype == np.uint32
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    raw = np.array([97, 0x110000], np.uint32)  # beyond the folding tables: raises
    out, other = np.zeros(2, np.uint32), np.zeros(2, np.int64)
    with pytest.raises(ValueError):
        _ngrams.marks(raw, folding.fold, folding.word, kernel.BMP_SYMBOLS, PLAIN, out, other)


def test_marks_plain_code_matters(folding) -> None:  # type: ignore[no-untyped-def]
    """The sparse variant reads `plain` as given: another code is another feature."""
    table = _table(np.random.default_rng(4), 10, 8)
    batch = BatchText.build(folding, ["薇❤信 hello world", "plain text only here"])
    want, _ = kernel.numpy_sums(batch, table, (), 10, mark_orders=(2,))
    got, _ = kernel.compiled_sums(batch, table, (), 10, mark_orders=(2,))
    assert got.tobytes() == want.tobytes()
    codes, starts = marks(batch)
    out = np.zeros((2, 8), np.float32)
    counts = np.zeros(2, np.int64)
    _ngrams.sparse(codes, starts, 2, int(_SALT[2 + MARK_SALT]), 10, table, out, counts, 2)
    assert not np.array_equal(out, want)


def test_bad_arguments_raise() -> None:
    codes = np.array([97, 98, SEP, 99], np.uint32)
    starts = np.array([0, 3], np.int64)
    table = np.zeros((256, 8), np.float32)
    out = np.zeros((2, 8), np.float32)
    counts = np.zeros(2, np.int64)
    good = [codes, starts, 2, 12345, 8, table, out, counts, 0]
    _ngrams.dense(*good)  # the good calls work
    _ngrams.sparse(*good[:-1], PLAIN)
    assert counts.tolist() == [1 + 1, 0]  # "ab" once per variant; "c" has no 2-gram
    before = (out.copy(), counts.copy())
    bad = {
        0: [codes.astype(np.int64), codes[::2], [97, 98], codes.reshape(2, 2)],
        1: [starts.astype(np.int32), np.array([3, 0], np.int64), np.array([0, 5], np.int64),
            np.array([-1, 0], np.int64)],
        2: [0, 17, -3],
        3: [-1, 1 << 64, "x"],
        4: [0, 9, 40, 64],
        5: [table.astype(np.float64), table[:, ::2], np.zeros(256, np.float32),
            np.zeros((256, 65), np.float32), np.zeros((256, 0), np.float32)],
        6: [np.zeros((3, 8), np.float32), np.zeros((2, 4), np.float32), out.astype(np.float64),
            np.frombuffer(bytes(64), np.float32).reshape(2, 8)],
        7: [np.zeros(3, np.int64), counts.astype(np.float64),
            np.frombuffer(bytes(16), np.int64)],
    }  # fmt: skip
    for at, values in bad.items():
        for value in values:
            args = list(good)
            args[at] = value
            with pytest.raises((ValueError, TypeError, OverflowError, BufferError)):
                _ngrams.dense(*args)
    for plain in (-1, 1 << 32):
        with pytest.raises(ValueError):
            _ngrams.sparse(*good[:-1], plain)
    with pytest.raises(TypeError):
        _ngrams.dense(*good[:-1])
    # every argument is checked before anything is written
    assert before[0].tobytes() == out.tobytes() and np.array_equal(before[1], counts)
