"""Model and training-data loaders refuse a FIFO instead of blocking on it (a size check
alone passes a FIFO: its size is 0)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from screener.model.data import DataError, read_rows
from screener.model.linear import ModelError, _read_limited


def _within(seconds: float, call: Callable[[], object]) -> BaseException | None:
    """Run `call` in a thread; the exception it raised (the test fails if it blocks)."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the loader blocked on a FIFO"
    return raised[0] if raised else None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_as_model_file_and_as_data(tmp_path: Path) -> None:
    fifo = tmp_path / "weights.npz"
    os.mkfifo(fifo)
    model = _within(10, lambda: _read_limited(fifo, 1000))
    assert isinstance(model, ModelError) and "not a regular file" in str(model)
    data = _within(10, lambda: read_rows(fifo))
    assert isinstance(data, DataError) and "not a regular file" in str(data)


def test_an_oversized_model_file_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "model.json"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(ModelError, match="over the 1000 limit"):
        _read_limited(big, 1000)
