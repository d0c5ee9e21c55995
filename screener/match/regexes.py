"""Rule-file regexes: linear-time engines only, all of a pack's regexes in one batch pass.

A regex from a rule file is untrusted input: it must never be able to stall a worker, so it
must compile on RE2 (the only check: a pack valid here is valid everywhere). Where Hyperscan
is installed it runs every regex of a view in one pass over the joined batch as a prefilter
(multi-line mode: `^`/`$` anchor at message boundaries; matches spanning two messages are
dropped); a regex Hyperscan refuses, and every regex without Hyperscan, is searched by RE2
over the batch instead. Exact matches always come from RE2 on the one message, so results are
the same with or without Hyperscan.

Validation used to compile a Hyperscan database per regex (≈ 8 s of CPU for the shipped
packs' 54); then the prefilter was compiled once per view (≈ 1.1 s, most of a cold pack
compile). Now a cold compile returns at once with a literal prefilter (`screener.match.atoms`)
and compiles the Hyperscan database in a background thread, or loads it from the
`ArtefactCache` when the patterns are unchanged (see `RegexSet`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import re2

from screener.artefacts import ArtefactCache
from screener.match.atoms import required_atoms
from screener.match.automaton import Automaton, build_automaton
from screener.match.hyperscan_db import (
    _cached_prefilter,
    _hyperscan_available,
    _load_prefilter,
)
from screener.match.re2_search import _find_all, _possible, _spanned
from screener.text.views import BatchText, Layer

RegexView = Literal["folded", "compact", "digits"]
_log = logging.getLogger(__name__)

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


def _re2(pattern: str, *, capture: bool = False) -> Any:
    """Groups do not capture unless asked: only whole-match spans are ever read, and the `re2`
    binding asks RE2 for every group's span, which makes it run its slower submatch engines
    (~10% of the exact pass over the shipped packs' regexes, A/B per batch). Validation
    compiles the same way, so `re2`'s compile cache (128 entries) holds one object per
    pattern, as the regex set then finds it (what parses does not depend on capturing)."""
    options = re2.Options()
    options.log_errors = False
    options.never_capture = not capture
    try:
        return re2.compile("(?m)" + pattern, options)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        raise RegexError(raw.decode() if isinstance(raw, bytes) else str(raw)) from exc


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

    Two passes: a prefilter finds which (message, regex) pairs can match at all, then RE2
    finds the exact matches inside just those messages. Most messages match no regex, so the
    exact pass is small. Every prefilter below finds every pair that has a match:

    - Hyperscan, every regex of a view in one scan (end offsets only, so any RE2-valid size
      of pattern works): the fastest to run, but ≈ 1.1 s to compile for the shipped packs.
    - Until that database is ready (loaded from the cache at once, or compiled in a
      background thread: Hyperscan's compiler releases the GIL), and for good without
      Hyperscan: each regex's required literals in one Aho-Corasick automaton per view
      (`_AtomFilter`, built in milliseconds; ~3× slower to run on chat text, whose common
      characters are some regexes' atoms).
    - RE2 over the whole joined batch, for a regex with neither (Hyperscan refuses it, it
      has no literals worth using) and for all of them with `prefilter=False`.

    `background=False` compiles the Hyperscan database before returning instead;
    `hyperscan=False` keeps the literal prefilter for good; `defer=True` waits for `start()`
    or `wait()` (a one-shot `screener scan` never needs it, a forking one must not fork
    while it runs).
    """

    def __init__(
        self,
        specs: Sequence[RegexSpec],
        cache: ArtefactCache | None = None,
        *,
        prefilter: bool = True,
        background: bool = True,
        hyperscan: bool = True,
        defer: bool = False,
    ):
        self.specs = list(specs)
        self._by_view: dict[RegexView, list[RegexSpec]] = {}
        for spec in specs:
            self._by_view.setdefault(spec.view, []).append(spec)
        self._exact = {spec.index: _re2(spec.pattern) for spec in specs}
        self._hyperscan = prefilter and hyperscan and _hyperscan_available()
        self._atoms: dict[RegexView, _AtomFilter] = {}
        self._re2_only: dict[RegexView, list[int]] = {}
        """per view, positions of the regexes RE2 searches over the batch (no prefilter)."""
        self._compiled: dict[RegexView, tuple[Any, list[int]]] = {}
        """per view, once ready: the Hyperscan database and the positions it refused."""
        self._thread: threading.Thread | None = None
        self._deferred: tuple[dict[RegexView, list[str]], ArtefactCache | None] | None = None
        pending: dict[RegexView, list[str]] = {}
        for view, group in self._by_view.items():
            patterns = [s.pattern for s in group]
            if self._hyperscan and cache is not None:
                loaded = _load_prefilter(patterns, range(len(group)), cache)
                if loaded is not None:
                    self._compiled[view] = loaded
                    continue
            if self._hyperscan:
                pending[view] = patterns
            atoms = {k: required_atoms(p) for k, p in enumerate(patterns)} if prefilter else {}
            routed = {k: a for k, a in atoms.items() if a is not None}
            if routed:
                self._atoms[view] = _AtomFilter(routed)
            self._re2_only[view] = [k for k in range(len(group)) if k not in routed]
        if pending and background:
            self._deferred = (pending, cache)
            if not defer:
                self.start()
        elif pending:
            self._compile(pending, cache)

    def _compile(self, pending: dict[RegexView, list[str]], cache: ArtefactCache | None) -> None:
        for view, patterns in pending.items():
            try:
                self._compiled[view] = _cached_prefilter(patterns, range(len(patterns)), cache)
            except Exception:  # the literal prefilter stays: results are the same
                _log.exception("Hyperscan prefilter for the %s view not compiled", view)

    def start(self) -> None:
        """Start the background Hyperscan compile, if one is due and not yet started."""
        if self._deferred is not None:
            args, self._deferred = self._deferred, None
            self._thread = threading.Thread(target=self._compile, args=args, daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background Hyperscan compile (started if deferred); whether it's done."""
        self.start()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

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
            for message, k in self._confirmed(group, haystack, starts, batch, layer, view):
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

    def _confirmed(
        self,
        group: list[RegexSpec],
        haystack: str,
        starts: list[int],
        batch: BatchText,
        layer: Layer,
        view: RegexView,
    ) -> list[tuple[int, int]]:
        """The candidate pairs, narrowed by one RE2 pass per regex over its candidate
        messages joined: a literal prefilter admits many messages without a match (a common
        atom such as 个), and one search over all of them costs far less than a search per
        message (`_possible`); only the messages it leaves get the exact per-message pass."""
        loose = self._compiled.get(view) is None  # literal prefilter (a race only costs time)
        candidates = self._candidates(view, haystack, batch, layer)
        if not loose:
            return candidates  # Hyperscan's are nearly all real
        by_regex: dict[int, list[int]] = {}
        for message, k in candidates:
            by_regex.setdefault(k, []).append(message)
        pairs: list[tuple[int, int]] = []
        for k, messages in by_regex.items():
            if len(messages) >= CONFIRM_MIN:
                texts = [haystack[starts[m] : starts[m + 1] - 1] for m in messages]
                regex = self._exact[group[k].index]
                messages = [messages[i] for i in _possible(regex, texts)]
            pairs += [(m, k) for m in messages]
        return sorted(pairs)

    def _candidates(
        self, view: RegexView, haystack: str, batch: BatchText, layer: Layer
    ) -> list[tuple[int, int]]:
        """(message, regex position in its view group) pairs that have some match."""
        pairs: set[tuple[int, int]] = set()
        starts = batch.message_starts(layer)
        compiled = self._compiled.get(view)  # read once: the background compile may set it
        if compiled is None:
            if view in self._atoms:
                pairs.update(self._atoms[view].candidates(haystack, starts))
            re2_only = self._re2_only.get(view, [])
        else:
            db, re2_only = compiled
            if db is not None:
                pairs.update(self._hyperscan_pairs(db, view, haystack, batch, starts))
        group = self._by_view[view]
        spans: list[tuple[int, int, int]] = []
        for k in re2_only:
            spans += [(k, *m.span()) for m in self._exact[group[k].index].finditer(haystack)]
        if spans:
            pairs.update(_spanned(np.asarray(spans, dtype=np.int64), starts))
        return sorted(pairs)

    @staticmethod
    def _hyperscan_pairs(
        db: Any, view: RegexView, haystack: str, batch: BatchText, starts: np.ndarray
    ) -> list[tuple[int, int]]:
        ends: list[tuple[int, int]] = []

        def on_match(k: int, start: int, end: int, flags: int, ctx: object) -> None:
            ends.append((k, end))

        data = haystack.encode("utf-8")
        db.scan(data, match_event_handler=on_match)
        if not ends:
            return []
        found = np.asarray(ends, dtype=np.int64)
        # Hyperscan reports every end offset of every match, so the message a real match
        # ends in is always reported (one ending at a message's last byte belongs to it).
        # Messages are found by their byte offsets, not by counting newlines: a message may
        # itself hold a newline.
        owner = np.searchsorted(
            _byte_starts(batch.codes(view), starts, data),
            np.maximum(found[:, 1] - 1, 0),
            side="right",
        )
        return list(zip((owner - 1).tolist(), found[:, 0].tolist(), strict=True))


class _AtomFilter:
    """The required literals of a view's routed regexes in one automaton. A regex needs
    each of its clauses (`screener.match.atoms`) satisfied: one of the clause's atoms
    starting inside the message (every match lies inside one message and contains an atom
    of each clause, so no candidate is missed)."""

    def __init__(self, clauses: dict[int, tuple[frozenset[str], ...]]):
        index: dict[str, int] = {}
        owners: list[list[int]] = []
        slot_regex: list[int] = []
        needed: dict[int, int] = {}
        for k, required in clauses.items():
            needed[k] = len(required)
            for clause in required:
                slot = len(slot_regex)  # one slot per (regex, clause)
                slot_regex.append(k)
                for atom in sorted(clause):
                    i = index.setdefault(atom, len(index))
                    if i == len(owners):
                        owners.append([])
                    owners[i].append(slot)
        self._automaton: Automaton = build_automaton(list(index))
        counts = np.array([len(o) for o in owners], dtype=np.int64)
        self._counts = counts
        self._first = np.cumsum(counts) - counts
        """atom → where its slots start in `_owners` (a CSR layout: one gather per scan)."""
        self._owners = np.array([k for o in owners for k in o], dtype=np.int64)
        self._slot_regex = np.array(slot_regex, dtype=np.int64)
        self._needed = np.zeros(max(clauses) + 1, dtype=np.int64)
        self._needed[list(needed)] = list(needed.values())
        self._slots = len(slot_regex)
        self._width = max(clauses) + 1

    def candidates(self, haystack: str, starts: np.ndarray) -> list[tuple[int, int]]:
        found = self._automaton.scan(haystack)
        if not len(found):
            return []
        messages = np.searchsorted(starts, found[:, 1], side="right") - 1
        atom = found[:, 0]
        counts = self._counts[atom]
        # each hit, once per slot its atom is in: hit i's j-th slot is _owners[first_i + j]
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        slot = self._owners[np.repeat(self._first[atom], counts) + offsets]
        filled = np.unique(np.repeat(messages, counts) * self._slots + slot)
        regex = self._slot_regex[filled % self._slots]
        pair, satisfied = np.unique((filled // self._slots) * self._width + regex,
                                    return_counts=True)  # fmt: skip
        pair = pair[satisfied == self._needed[pair % self._width]]
        return list(zip((pair // self._width).tolist(), (pair % self._width).tolist(), strict=True))


CONFIRM_MIN = 4
"""Candidates of one regex in a batch from which the joined RE2 pass pays off."""


def _byte_starts(codes: np.ndarray, starts: np.ndarray, data: bytes | None = None) -> np.ndarray:
    """UTF-8 byte offset of each message start (`starts` are code-point positions; `data`:
    the codes as UTF-8, when the caller has it).

    Each message after the first starts just after its separator, a newline. Byte 0x0A
    encodes U+000A and nothing else, so the k-th newline code is the k-th newline byte: two
    compares find every separator's byte offset (~0.04 ms for a 1,000-message batch of
    `screener bench engine`), where sizing every character and summing took 0.15-0.25 ms.
    """
    if data is not None and len(starts) <= 1:
        return np.zeros(len(starts), dtype=np.int64)
    if data is not None:
        separators = starts[1:] - 1
        if (codes[separators] == 0x0A).all():  # as BatchText joins them: checked, it is cheap
            lines = np.flatnonzero(codes == 0x0A)
            # more newlines than separators: some are inside messages, skip those
            rank = np.searchsorted(lines, separators) if len(lines) > len(separators) else None
            where = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A)
            out = np.zeros(len(starts), dtype=np.int64)
            out[1:] = (where if rank is None else where[rank]) + 1
            return out
    size = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    offsets = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    return offsets[starts]  # type: ignore[no-any-return]
