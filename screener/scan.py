"""`screener scan`: JSONL events (or plain lines) → one verdict per line, streaming.

Lines are read in bounded batches, so memory stays constant on any file size; a line longer
than the record limit is skipped to its newline without being held in memory and reported.
A batch ends at `BATCH_LINES` lines or `BATCH_BYTES` of input, whichever comes first: lines
near the 1 MB record limit would otherwise make one batch of 1,024 lines hold ~1.7 GB.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import orjson

from screener.decode import decode_event
from screener.engine import Engine
from screener.events import (
    MAX_RECORD_BYTES,
    Event,
    ParseError,
    text_event,
)
from screener.state.behaviour import BehaviourState
from screener.verdict import Verdict, Verdicts

BATCH_LINES = 1024
BATCH_BYTES = 8 << 20
"""Input bytes per batch; engine throughput is flat well below this (batches of ~1,000
ordinary messages are ~0.3 MB), so it only binds when lines are large."""
_CHUNK = 1 << 16


def read_lines(stream: BinaryIO, limit: int = MAX_RECORD_BYTES) -> Iterator[bytes | None]:
    """Lines without their newline; None for a line over `limit` bytes (skipped, not stored)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # drain the rest of the oversized line
                rest = stream.readline(_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line.rstrip(b"\r\n")


class _TextEvents:
    """Plain lines as the chat events `text_event` makes.

    Profiled on `screener scan --text`: `ChatEvent.model_construct` cost more per line than
    screening it, so this used to copy one pydantic model per line; `text_event` now builds a
    lean struct in C (`events.LeanChat`, shared immutable user), cheaper still."""

    def __call__(self, text: str, event_id: str) -> Event:
        return text_event(text, event_id)


def too_large() -> ParseError:
    """A line over the record limit (skipped to its newline, never held)."""
    return ParseError("too_large", f"line exceeds {MAX_RECORD_BYTES} bytes")


def _decode(
    raw: bytes | None, lineno: int, as_text: bool, make: Callable[[str, str], Event] = text_event
) -> Event | ParseError:
    if raw is None:
        return too_large()
    if as_text:
        try:
            return make(raw.decode("utf-8"), str(lineno))
        except UnicodeDecodeError as exc:
            return ParseError("bad_utf8", f"invalid UTF-8 at byte {exc.start}")
    # the one lean decoder (`screener.decode`): pydantic's answer at about orjson's cost
    return decode_event(raw)


Pending = list[tuple[int, Event | ParseError]]
Numbered = Iterable[tuple[int, bytes | None]]
"""Input lines with their 1-based line numbers (None: over the record limit)."""


def numbered(
    streams: Iterable[BinaryIO], limit: int = MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """Every line of every stream with its line number (counted across the streams)."""
    lineno = 0
    for stream in streams:
        for raw in read_lines(stream, limit):
            lineno += 1
            yield lineno, raw


def _batches(
    engine: Engine, lines: Numbered, as_text: bool, batch_bytes: int
) -> Iterator[tuple[Pending, Verdicts]]:
    """Input lines in batches, each with the verdicts of its events (errors have none)."""
    # Plain lines carry no user and no time (`text_event`: one anonymous user at ts 0), so
    # per-user windows and campaigns would read a whole file as one account posting every
    # line at once: its escalation rule fired on ~8k of 300k lines. Behaviour needs events.
    behaviour = engine.pack.behaviour if not as_text else None
    state = BehaviourState(behaviour) if behaviour else None
    make = _TextEvents() if as_text else text_event
    pending: Pending = []
    pending_bytes = 0

    def flush() -> tuple[Pending, Verdicts]:
        nonlocal pending
        events = [item for _, item in pending if not isinstance(item, ParseError)]
        verdicts, updates = engine.screen_stateful(events, state)
        if state is not None and updates is not None:
            state.apply(updates)
        done, pending = pending, []
        return done, verdicts

    for lineno, raw in lines:
        if raw is not None and not raw.strip():
            continue
        pending.append((lineno, _decode(raw, lineno, as_text, make)))
        pending_bytes += len(raw) if raw is not None else 0
        if len(pending) >= BATCH_LINES or pending_bytes >= batch_bytes:
            pending_bytes = 0
            yield flush()
    if pending:
        yield flush()


def stateless(engine: Engine, as_text: bool) -> bool:
    """Whether lines can be screened independently of each other (in any process, in any
    batches): plain lines always are; events are unless the pack keeps behaviour state."""
    return as_text or not engine.pack.behaviour


def _error(version: str, n: int, item: ParseError) -> Verdict:
    return Verdict(None, version, error=f"{item.reason}: {item.detail}", line=n)


def scan(
    engine: Engine, streams: Iterable[BinaryIO], as_text: bool = False,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[Verdict]:  # fmt: skip
    """Verdicts in input order; blank lines are skipped, bad lines become error verdicts.

    Behaviour state (per-user windows, campaigns) is kept across the whole input by the same
    `BehaviourState` the service keeps per partition, so offline and online verdicts agree.
    Plain-text input (`as_text`) has no users or times, so it is screened without it."""
    version = engine.pack.version
    for pending, verdicts in _batches(engine, numbered(streams), as_text, batch_bytes):
        screened = iter(verdicts)
        for n, item in pending:
            yield _error(version, n, item) if isinstance(item, ParseError) else next(screened)


def scan_json(
    engine: Engine, streams: Iterable[BinaryIO], as_text: bool = False,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[bytes]:  # fmt: skip
    """`scan`'s verdicts as the JSON lines `Verdict.to_json` gives, one bytes per batch.

    What `screener scan` prints (`render_json` over every numbered line of the input)."""
    return render_json(engine, numbered(streams), as_text, batch_bytes)


def render_json(
    engine: Engine, lines: Numbered, as_text: bool = False, batch_bytes: int = BATCH_BYTES
) -> Iterator[bytes]:
    """Numbered lines' verdicts as JSON lines, one bytes per batch (`scan_json`'s body; the
    parallel scan's workers run it on their chunks).

    Most lines of a feed are clean, and a clean verdict is the same bytes but for its id:
    those are joined from a prefix and suffix rendered once, instead of building a `Verdict`,
    its dict and its JSON per line (profiled: ~1/8 of a `--text` scan once events were
    cheap). test_scan_fast checks the bytes equal `scan`'s."""
    version = engine.pack.version
    head, tail = _clean_parts(version)
    dumps = orjson.dumps
    for pending, verdicts in _batches(engine, lines, as_text, batch_bytes):
        decided = verdicts.decided
        out: list[bytes] = []
        k = 0
        for n, item in pending:
            if isinstance(item, ParseError):
                out.append(_error(version, n, item).to_json())
                continue
            verdict = decided.get(k)
            out.append(head + dumps(item.id) + tail if verdict is None else verdict.to_json())
            k += 1
        out.append(b"")
        yield b"\n".join(out)


_BLANK_FIRST = re.compile(rb"[ \t\x0b\x0c]*\n")
_BLANK_LATER = re.compile(rb"\n[ \t\x0b\x0c]*\n")
"""A line `bytes.strip` leaves empty, in a chunk without carriage returns (two patterns: with
`(?:\\A|\\n)` the regex engine loses its literal-prefix scan and took ~3 ms a chunk)."""


def render_text_block(engine: Engine, first: int, data: bytes, limit: int) -> bytes | None:
    """`render_json`'s bytes for plain lines (`data`: whole lines, each ending in a newline,
    numbered from `first`) in one batch; None when the block needs the line-by-line path.

    Profiled in a parallel scan's worker: per line, decoding, skipping blanks, making the
    event and the clean verdict's bytes cost ~5 µs next to the engine's ~12. A block that is
    valid UTF-8 with no blank, over-long or carriage-returned line (nearly every block of a
    real file) needs none of the per-line checks, so it is decoded and split once, its
    events made by one `map`, and each run of clean verdicts joined in one `bytes.join`."""
    if len(data) > limit or b"\r" in data or _BLANK_FIRST.match(data) or _BLANK_LATER.search(data):
        return None
    try:
        texts = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    texts.pop()  # after the last newline
    n = len(texts)
    ids = list(map(str, range(first, first + n)))
    verdicts, _ = engine.screen_stateful(list(map(text_event, texts, ids)), None)
    head, tail = _clean_parts(engine.pack.version)
    quoted = ('"' + '"\n"'.join(ids) + '"').encode().split(b"\n")  # orjson.dumps of each id
    between = tail + b"\n" + head
    out: list[bytes] = []
    done = 0
    decided = verdicts.decided
    for k in sorted(decided) if decided else ():
        if k > done:
            out += (head, between.join(quoted[done:k]), tail, b"\n")
        out += (decided[k].to_json(), b"\n")
        done = k + 1
    if done < n:
        out += (head, between.join(quoted[done:]), tail, b"\n")
    return b"".join(out)


def _clean_parts(version: str) -> tuple[bytes, bytes]:
    """A clean verdict's JSON before and after its id."""
    head, _, tail = Verdict(_MARK, version).to_json().partition(orjson.dumps(_MARK))
    return head, tail


def error_json(version: str, lineno: int, item: ParseError) -> bytes:
    """An input error's verdict line, as `render_json` prints it."""
    return _error(version, lineno, item).to_json() + b"\n"


_MARK = "\u2063scan-id\u2063"
"""Stands in for the event id while the clean verdict's bytes are rendered."""
