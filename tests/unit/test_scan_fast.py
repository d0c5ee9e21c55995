"""`screener scan`'s fast paths print exactly what the plain path would.

Text lines become events by copying one (`_TextEvents`), and clean verdicts are joined from a
pre-rendered prefix and suffix (`scan_json`); both must be indistinguishable from
`text_event` and `Verdict.to_json`, including errors, truncation and behaviour findings."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from screener.engine import Engine
from screener.events import text_event
from screener.rules import load_packs
from screener.scan import _TextEvents, scan, scan_json
from screener.synthetic import corpus
from screener.synthetic.generate import GenConfig, Generator, write_jsonl

SEEDS = Path(__file__).parents[2] / "seeds"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_packs([SEEDS / "rules"]), max_text_chars=200)


def test_copied_text_events_equal_text_event() -> None:
    make = _TextEvents()
    for text, event_id in (("hi", "1"), ("", "2"), ("约炮加V信", "300000")):
        fast, slow = make(text, event_id), text_event(text, event_id)
        assert fast == slow and type(fast) is type(slow)  # lean structs: field by field
    a, b = make("x", "1"), make("y", "2")
    assert a.media is not b.media  # lists are never shared between events


def _both(engine: Engine, data: bytes, as_text: bool) -> tuple[bytes, bytes]:
    slow = b"".join(v.to_json() + b"\n" for v in scan(engine, [io.BytesIO(data)], as_text))
    fast = b"".join(scan_json(engine, [io.BytesIO(data)], as_text))
    return slow, fast


def test_text_scan_bytes_equal_the_verdicts(engine: Engine) -> None:
    lines = corpus.messages(3000, seed=9)
    lines[5] = "约炮加V信" * 100  # over max_text_chars: truncated
    lines[7] = ""  # blank: skipped
    data = "\n".join(lines).encode() + b"\n\xff\xfe broken utf-8\nlast line without newline"
    slow, fast = _both(engine, data, as_text=True)
    assert fast == slow
    assert b'"truncated":true' in fast and b'"error":"bad_utf8' in fast
    assert (
        b'"flagged":true' in fast and fast.count(b"\n") == 3000 - 1 + 2
    )  # one blank, two more lines


def test_json_scan_bytes_equal_the_verdicts(engine: Engine) -> None:
    out = io.BytesIO()
    write_jsonl(itertools.islice(Generator(GenConfig(seed=2, users=200)), 4000), out, None)
    samples = b"".join((SEEDS / "events" / n).read_bytes()
                       for n in ("chat.jsonl", "microblog.jsonl", "malformed.jsonl"))  # fmt: skip
    slow, fast = _both(engine, samples + out.getvalue(), as_text=False)
    assert fast == slow
    assert b'"error":' in fast and b"behaviour." in fast and b'"flagged":false' in fast


def test_plain_lines_are_not_one_account(engine: Engine) -> None:
    """Text lines have no user or time: the same flagged line 50 times is 50 independent
    verdicts, never an escalation of one pseudo-user's "third flagged message in an hour"."""
    data = ("约炮加V信 123456\n" * 50).encode()
    verdicts = list(scan(engine, [io.BytesIO(data)], as_text=True))
    assert all(v.flagged for v in verdicts)
    assert len({(v.action, v.score, tuple(v.categories)) for v in verdicts}) == 1
    assert not any("escalat" in str(v.to_json()) for v in verdicts)
