"""Rule-file regexes: linear-time engines only, all of a pack's regexes in one batch pass.

A regex from a rule file is untrusted input: it must never be able to stall a worker, so it
must compile on RE2 (the only check: a pack valid here is valid everywhere). Where Hyperscan
is installed it runs every regex of a view in one pass over the joined batch as a prefilter
(multi-line mode: `^`/`$` anchor at message boundaries; matches spanning two messages are
dropped); a regex Hyperscan refuses, and every regex without Hyperscan, is searched by RE2
over the batch instead. Exact matches always come from RE2 on the one message, so results are
the same with or without Hyperscan.

Validation used to compile a Hyperscan database per regex (≈ 8 s of CPU for the shipped
packs' 54); now the prefilter is compiled once per view (≈ 0.9 s) and, when an
`ArtefactCache` is given, loaded from its serialised form when the patterns are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import re2

from screener.artefacts import ArtefactCache, content_key
from screener.text.views import BatchText, Layer

RegexView = Literal["folded", "compact", "digits"]

_FORBIDDEN = ("\\A", "\\z", "\\Z")
MAX_PATTERN_CHARS = 20_000
"""A regex longer than this is refused (the longest shipped one has ~1,500)."""


class RegexError(ValueError):
    """A pattern that a linear-time engine refuses (or that cannot work on joined batches)."""


@dataclass(frozen=True, slots=True)
class RegexSpec:
    index: int
    view: RegexView
    pattern: str


def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile("(?m)" + pattern, options)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        raise RegexError(raw.decode() if isinstance(raw, bytes) else str(raw)) from exc


def _hyperscan_db(patterns: Sequence[str], ids: Sequence[int] | None = None) -> Any:
    import hyperscan

    flags = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_MULTILINE
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(
            expressions=[p.encode("utf-8") for p in patterns],
            ids=list(range(len(patterns))) if ids is None else list(ids),
            elements=len(patterns),
            flags=[flags] * len(patterns),
        )
    except hyperscan.error as exc:
        raise RegexError(f"Hyperscan: {exc}") from exc
    return db


def _prefilter_db(patterns: Sequence[str]) -> tuple[Any, list[int]]:
    """The prefilter, and the positions of patterns Hyperscan refuses (RE2 searches those).

    Each pattern has `{0,n}` widened to `*` where that still compiles: Hyperscan pays for
    bounded repeats (`.{0,60}`, `[^.!?]{0,40}`); unbounded ones are cheap, and a looser
    pattern only admits more candidates, which RE2 then checks exactly. On the shipped packs
    this cut the prefilter's cost by about 30%. Only when the whole set fails is each pattern
    tried alone, to find the ones to leave out.
    """
    loose = [_unbounded(p) for p in patterns]
    try:
        return _hyperscan_db(loose), []
    except RegexError:
        pass
    kept: list[tuple[int, str]] = []
    refused: list[int] = []
    for k, (wide, exact) in enumerate(zip(loose, patterns, strict=True)):
        for candidate in dict.fromkeys((wide, exact)):
            try:
                _hyperscan_db([candidate])
            except RegexError:
                continue
            kept.append((k, candidate))
            break
        else:
            refused.append(k)
    if not kept:
        return None, refused
    return _hyperscan_db([p for _, p in kept], [k for k, _ in kept]), refused


def _cached_prefilter(patterns: Sequence[str], cache: ArtefactCache) -> tuple[Any, list[int]]:
    """`_prefilter_db`, through the cache: an entry holds the refused positions and the
    serialised database (Hyperscan's own format), keyed by patterns, library and machine."""
    import platform

    import hyperscan

    key = content_key(
        "prefilter-v1", str(getattr(hyperscan, "__version__", "?")), platform.machine(), *patterns
    )  # fmt: skip
    blob = cache.get("hyperscan", key)
    if blob is not None and len(blob) >= 4:
        n = int.from_bytes(blob[:4], "little")
        refused = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "little") for i in range(n)]
        body = blob[4 + 4 * n :]
        try:
            if any(k >= len(patterns) for k in refused):
                raise ValueError("refused position out of range")
            if not body:
                return None, refused
            db = hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK)
            db.scratch = hyperscan.Scratch(db)  # a loaded database comes without one
            db.scan(b"\n", match_event_handler=lambda *_: None)  # usable here, or rebuild
            return db, refused
        except (hyperscan.error, ValueError):
            pass  # damaged or from another build: compile again
    db, refused = _prefilter_db(patterns)
    head = len(refused).to_bytes(4, "little") + b"".join(k.to_bytes(4, "little") for k in refused)
    cache.put("hyperscan", key, head + (hyperscan.dumpb(db) if db is not None else b""))
    return db, refused


_BOUNDED = re.compile(r"\{0,\d+\}\??")


def _unbounded(pattern: str) -> str:
    """`x{0,n}` → `x*` outside character classes and escapes (a superset of the matches)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class and pattern.startswith("[:", i):  # [[:alpha:]]
            end = pattern.find(":]", i) + 2
            out.append(pattern[i:end])
            i = end
            continue
        if in_class:
            in_class = c != "]" or pattern[i - 1] == "[" or pattern[i - 2 : i] == "[^"
        elif c == "[":
            in_class = True
        elif c == "{" and (m := _BOUNDED.match(pattern, i)):
            out.append("*")
            i = m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _hyperscan_available() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


def validate(pattern: str) -> None:
    """Raise `RegexError` unless the pattern compiles on RE2 (linear time, bounded memory)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(f"{len(pattern)} characters, over the {MAX_PATTERN_CHARS} limit")
    for anchor in _FORBIDDEN:
        if anchor in pattern:
            raise RegexError(f"{anchor} is not supported: use ^ and $ (each message is one line)")
    _re2(pattern)


class RegexSet:
    """All regexes of a pack, grouped by view; `find` → message → regex index → matches.

    Two passes: a prefilter finds which (message, regex) pairs match at all (Hyperscan: every
    regex of a view in one scan, end offsets only, so any RE2-valid size of pattern works),
    then RE2 finds the exact matches inside just those messages. Most messages match no
    regex, so the exact pass is small.
    """

    def __init__(self, specs: Sequence[RegexSpec], cache: ArtefactCache | None = None):
        self.specs = list(specs)
        self._by_view: dict[RegexView, list[RegexSpec]] = {}
        for spec in specs:
            self._by_view.setdefault(spec.view, []).append(spec)
        self._exact = {spec.index: _re2(spec.pattern) for spec in specs}
        self._hyperscan = _hyperscan_available()
        self._prefilter: dict[RegexView, Any] = {}
        self._re2_only: dict[RegexView, list[int]] = {}
        """per view, positions of the regexes RE2 searches over the batch (no prefilter)."""
        for view, group in self._by_view.items():
            if not self._hyperscan:
                self._re2_only[view] = list(range(len(group)))
                continue
            patterns = [s.pattern for s in group]
            db, refused = (
                _prefilter_db(patterns) if cache is None else _cached_prefilter(patterns, cache)
            )
            self._prefilter[view], self._re2_only[view] = db, refused

    @property
    def engine(self) -> str:
        return "hyperscan+re2" if self._hyperscan else "re2"

    def find(self, batch: BatchText) -> dict[int, dict[int, list[tuple[int, int, str]]]]:
        """Per message, per regex index: (original start, original end, matched view text)."""
        out: dict[int, dict[int, list[tuple[int, int, str]]]] = {}
        for view, group in self._by_view.items():
            haystack = batch.view(view)
            layer: Layer = "folded" if view in ("folded", "digits") else "compact"
            starts = batch.message_starts(layer).tolist()
            starts.append(len(haystack) + 1)
            for message, k in self._candidates(view, haystack, batch, layer):
                spec = group[k]
                lo, hi = starts[message], starts[message + 1] - 1
                text = haystack[lo:hi]
                for a, b in _find_all(self._exact[spec.index], text):
                    start, end = lo + a, lo + b
                    if layer == "compact":
                        start, end = batch.to_folded("compact", start, end)
                    o_start, o_end = batch.to_original(message, start, end)
                    hits = out.setdefault(message, {}).setdefault(spec.index, [])
                    hits.append((o_start, o_end, text[a:b]))
        return out

    def _candidates(
        self, view: RegexView, haystack: str, batch: BatchText, layer: Layer
    ) -> list[tuple[int, int]]:
        """(message, regex position in its view group) pairs that have some match."""
        pairs: set[tuple[int, int]] = set()
        if self._prefilter.get(view) is not None:
            ends: list[tuple[int, int]] = []

            def on_match(k: int, start: int, end: int, flags: int, ctx: object) -> None:
                ends.append((k, end))

            data = haystack.encode("utf-8")
            self._prefilter[view].scan(data, match_event_handler=on_match)
            if ends:
                # a match ending just after a message's last byte belongs to that message
                messages = _message_of_bytes(data, [max(e - 1, 0) for _, e in ends])
                pairs.update((m, k) for m, (k, _) in zip(messages, ends, strict=True))
        group = self._by_view[view]
        chars: list[tuple[int, int]] = []
        for k in self._re2_only.get(view, ()):
            chars += [(k, m.end()) for m in self._exact[group[k].index].finditer(haystack)]
        if chars:
            found = np.asarray(chars, dtype=np.int64)
            starts = batch.message_starts(layer)
            owner = np.searchsorted(starts, np.maximum(found[:, 1] - 1, 0), side="right") - 1
            pairs.update(zip(owner.tolist(), found[:, 0].tolist(), strict=True))
        return sorted(pairs)


def _message_of_bytes(data: bytes, offsets: Sequence[int]) -> list[int]:
    """Index of the newline-separated message each byte offset falls in."""
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    return np.searchsorted(nl, np.asarray(offsets, dtype=np.int64), side="right").tolist()  # type: ignore[no-any-return]


_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED


def _find_all(regex: Any, text: str) -> list[tuple[int, int]]:
    """Non-empty, non-overlapping RE2 matches as code-point spans.

    Calls RE2 directly on the UTF-8 bytes: the `re2` module's generic wrapper costs ~10 µs
    per call in Python bookkeeping, more than the search itself on a chat message.
    """
    data = text.encode("utf-8")
    low = regex._regexp
    pos, end = 0, len(data)
    spans: list[tuple[int, int]] = []
    while pos <= end:
        a, b = low.Match(_UNANCHORED, data, pos, end)[0]
        if a < 0:
            break
        if b > a:
            spans.append((a, b))
            pos = b
        else:  # empty match: step over one whole character, never into its middle
            pos = b + 1
            while pos < end and data[pos] & 0xC0 == 0x80:
                pos += 1
    if spans and len(data) != len(text):
        chars = [len(data[:x].decode("utf-8", "ignore")) for pair in spans for x in pair]
        spans = list(zip(chars[::2], chars[1::2], strict=True))
    return spans
