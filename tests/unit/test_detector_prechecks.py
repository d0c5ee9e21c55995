"""The contact detectors' vectorised pre-checks admit exactly the messages their definitions
name: a pre-check that drops a message silently loses a detection, one that admits too many
only costs time, so both directions are checked against a plain per-message reading."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from screener.match.detectors import EMAIL, _emails, _wechat_candidates
from screener.synthetic import corpus
from screener.text.folding import build_folding
from screener.text.views import BatchText

_RUN = re.compile(r"[a-z0-9_-]{6,}")


def _wechat_reference(alnum: Any, text: str) -> bool:
    """A Chinese keyword and a run of 6+ id characters, or a v/w/j starting a word and such
    a run holding a digit, _ or - (the docstring of `_wechat_candidates`)."""
    runs = _RUN.findall(text)
    cjk = any(c in "微薇威维徽" for c in text)
    latin = any(c in "vwj" and (k == 0 or not alnum[ord(text[k - 1])]) for k, c in enumerate(text))
    marked = any(any(c in "0123456789_-" for c in run) for run in runs)
    return (cjk and bool(runs)) or (latin and marked)


def test_wechat_precheck_matches_its_definition() -> None:
    folding = build_folding()
    texts = [
        *corpus.messages(3000, seed=7),
        "加微 abc_123", "wechat: jenny_love", "V信：sexy520", "review this please",
        "we have plans tonight", "微信 abcdef", "微信 abcde", "vx 123456", "xvx 123456",
        "j abc-de", "", "jjjjjjjjjjj", "w" + "a" * 30 + "1", "薇", "abcdef\n微",
    ]  # fmt: skip
    batch = BatchText.build(folding, texts)
    view = batch.view("digits")
    starts = batch.message_starts("folded")
    bounds = [*starts.tolist(), len(view) + 1]
    got = _wechat_candidates(batch, batch.codes("digits"), starts).tolist()
    want = [
        _wechat_reference(folding.alnum, view[bounds[m] : bounds[m + 1] - 1])
        for m in range(len(texts))
    ]
    assert got == want
    assert 20 < sum(want) < len(texts) - 20  # both answers are exercised


def test_wechat_precheck_on_batches_without_long_runs() -> None:
    folding = build_folding()
    for texts in (["微 abc"], ["a"], ["微信", "v 12"], [""]):
        batch = BatchText.build(folding, texts)
        got = _wechat_candidates(batch, batch.codes("digits"), batch.message_starts("folded"))
        assert not got.any()


def test_emails_searched_per_message_with_an_at_are_those_of_the_whole_batch() -> None:
    """`_emails` searches only messages holding an `@`; the reference is one search over the
    whole joined batch, each match assigned to the message it starts in."""
    folding = build_folding()
    texts = corpus.messages(500, seed=9)
    extra = [
        "mail me: Bob.Smith+x@Example.co.uk now", "@alice hi", "a@b", "x@y.cn\nz@w.com",
        "me@host.com,you@host.org", "ＡＢＣ＠ＱＱ．ＣＯＭ", "@@@", "foo@bar.c0m", "q@q.qq",
    ]  # fmt: skip
    for k, text in enumerate(extra):
        texts.insert(40 * k + 3, text)
    batch = BatchText.build(folding, texts)
    view, starts = batch.view("digits"), batch.message_starts("folded")
    bounds = np.append(starts, len(view) + 1)
    found = [(d.message, d.w_start, d.w_end, d.value)
             for d in _emails(view, batch.codes("digits"), bounds)]  # fmt: skip
    whole = list(EMAIL.finditer(view))
    owner = np.searchsorted(starts, [m.start() for m in whole], side="right") - 1
    assert found == [
        (int(o), m.start(), m.end(), m.group()) for m, o in zip(whole, owner, strict=True)
    ]
    assert len(found) >= 7
