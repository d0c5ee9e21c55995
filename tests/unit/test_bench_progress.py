"""`bench pipeline`'s throughput, read from the output a contender makes visible: the same for
a contender that commits every batch and one that commits once an interval."""

from __future__ import annotations

import pytest

from screener.measure.progress import Progress

# 3 partitions of 1,000 events each, interleaved: event i at (i % 3, i // 3)
PLACED = [(i % 3, i // 3) for i in range(3000)]
HITS = range(0, 3000, 20)  # every 20th event makes an output (5%)


def _screen(progress: Progress, batches: int, seconds_per_batch: float) -> None:
    """A contender screening the backlog in `batches` equal batches, its output for each batch
    visible when the batch is done; a CPU second per batch."""
    per = len(PLACED) // batches
    for b in range(batches):
        for i in HITS:
            if b * per <= i < (b + 1) * per:
                progress.see(i)
        progress.mark(10.0 + (b + 1) * seconds_per_batch, lambda b=b: float(b + 1))


def test_the_rate_is_the_work_between_the_first_and_last_visible_output() -> None:
    progress = Progress(PLACED)
    _screen(progress, batches=3, seconds_per_batch=0.5)  # 1,000 events each half second
    rate = progress.rate()
    # the first batch is start-up (excluded); the next two: ~2,000 events in 1 s
    assert rate.seconds == pytest.approx(1.0)
    assert 1900 <= rate.records <= 2000 and rate.msgs_per_s == pytest.approx(rate.records)
    assert rate.cpu_us_per_msg == pytest.approx(2 / rate.records * 1e6)


def test_the_rate_does_not_depend_on_when_the_contender_commits() -> None:
    """Commits are not an input: a contender committing once at the end (a 1 s interval over
    a short backlog) and one committing per batch show the same output, so the same rate —
    the commit-progress measure could not time the first at all."""
    every_batch, once = Progress(PLACED), Progress(PLACED)
    _screen(every_batch, batches=6, seconds_per_batch=0.25)
    _screen(once, batches=6, seconds_per_batch=0.25)
    assert every_batch.rate() == once.rate()
    assert every_batch.rate().msgs_per_s == pytest.approx(2000, rel=0.05)  # 500 per 0.25 s


def test_duplicates_and_order_do_not_move_progress_back() -> None:
    progress = Progress(PLACED)
    for i in (300, 3, 300, 6, 2999, -1, 5000):  # at-least-once copies; out of range ignored
        progress.see(i)
    # partition 0 read to offset 100 (event 300), partition 2 to 999 (event 2999)
    assert progress.records == 101 + 1000
    progress.mark(1.0, lambda: None)
    progress.mark(2.0, lambda: None)  # no advance: no sample
    with pytest.raises(RuntimeError, match="all at once"):
        progress.rate()


def test_a_backlog_whose_output_is_seen_in_one_poll_is_refused() -> None:
    progress = Progress(PLACED)
    progress.mark(0.5, lambda: None)  # nothing visible yet: no sample
    for i in HITS:
        progress.see(i)
    progress.mark(1.0, lambda: 1.0)
    with pytest.raises(RuntimeError, match="--messages"):
        progress.rate()
