"""A batch of messages folded into joined views, with exact maps back to the originals.

Every matcher runs once over a whole batch: the messages are joined by SEP (a character no
view produces from a message), folded with one numpy `take`, and each view keeps the positions
of its characters in the view below it:

    original ──fold──▶ folded (W) ──drop non-letters──▶ compact (C) ──▶ sound (S), repeat (R)
                          └──numerals──▶ digits (D)

`folded` keeps punctuation and spaces (URLs, e-mails, regexes, word boundaries); `compact` has
only letters and digits, so 加 V 信, 微​信 and 约-炮 read 加v信, 微信 and 约炮; `sound` maps each
CJK character to its toneless syllable; `repeat` collapses runs of one character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from screener.text.folding import IGNORE, SEP, Folding

Positions = npt.NDArray[np.int64]
Codes = npt.NDArray[np.uint32]

JOINER = "\n"

View = Literal["folded", "digits", "compact", "sound", "repeat", "sound_repeat"]
"""The views of a batch (module docstring); lexicon terms and regexes each name one."""
Layer = Literal["folded", "compact", "repeat", "sound_repeat"]
"""Views with their own positions (`digits` shares folded's, `sound` compact's)."""


def _to_str(codes: Codes) -> str:
    return codes.tobytes().decode("utf-32-le")


def _collapse(codes: Codes) -> Positions:
    """Positions of the first character of each run of equal characters."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    keep = np.empty(len(codes), dtype=np.bool_)
    keep[0] = True
    np.not_equal(codes[1:], codes[:-1], out=keep[1:])
    return np.flatnonzero(keep)


@dataclass(eq=False)
class BatchText:
    """Views of one batch; build with `BatchText.build(folding, texts)`."""

    folding: Folding
    texts: list[str]
    a_start: Positions
    """start of message i in the joined original (length n+1; the last is the total + 1)."""
    src: dict[int, Positions]
    """for messages whose characters expanded (⑩ → 10): joined position → original offset."""
    w_codes: Codes
    w_pos: Positions
    """folded view position → joined original position."""
    c_codes: Codes
    c_pos: Positions
    """compact view position → folded view position."""
    _strings: dict[View, str] = field(default_factory=dict)
    _codes: dict[View, Codes] = field(default_factory=dict)
    _repeat_pos: dict[View, Positions] = field(default_factory=dict)
    _starts: dict[Layer, Positions] = field(default_factory=dict)

    @classmethod
    def build(cls, folding: Folding, texts: list[str]) -> BatchText:
        src: dict[int, Positions] = {}
        expandable = folding.expandable
        joined = JOINER.join(texts)
        try:
            raw = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError:  # lone surrogates (a file read with surrogateescape)
            return cls.build(folding, well_formed(texts))
        wide = np.flatnonzero(expandable.take(raw)) if len(raw) else raw
        if len(wide):
            # the messages holding such characters, found from their positions: asking every
            # message character by character cost ~7 ms a 1,000-message batch, and one "…"
            # (an expandable character common in Chinese chat) put a batch on that path
            ends = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)
            texts_for_views = list(texts)
            for i in np.unique(np.searchsorted(ends, wide, side="right")).tolist():
                expanded, offsets = _expand(folding, texts[i])
                texts_for_views[i] = expanded
                src[i] = offsets
            joined = JOINER.join(texts_for_views)
            raw = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
            lengths = [len(t) for t in texts_for_views]
        else:
            lengths = [len(t) for t in texts]
        a_start = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.asarray(lengths, dtype=np.int64) + 1, out=a_start[1:])
        folded = folding.fold.take(raw)
        if len(texts) > 1:
            folded[a_start[1:-1] - 1] = SEP
        w_pos = np.flatnonzero(folded != IGNORE)
        w_codes = folded[w_pos]
        c_pos = np.flatnonzero(folding.word.take(w_codes))
        c_codes = w_codes[c_pos]
        return cls(folding, texts, a_start, src, w_codes, w_pos, c_codes, c_pos)

    # -- views as strings (built on first use; most packs need only some) --------------------

    def view(self, name: View) -> str:
        """`folded`, `digits`, `compact`, `sound`, `repeat` or `sound_repeat` as one string."""
        if name not in self._strings:
            self._strings[name] = _to_str(self.codes(name))
        return self._strings[name]

    def codes(self, name: View) -> Codes:
        """The code points of a view (the same characters as `view(name)`)."""
        if name == "folded":
            return self.w_codes
        if name == "compact":
            return self.c_codes
        if name not in self._codes:
            if name == "digits":
                self._codes[name] = self.folding.digits.take(self.w_codes)
            elif name == "sound":
                self._codes[name] = self.folding.sound.take(self.c_codes)
            elif name in ("repeat", "sound_repeat"):
                base = self.codes("compact" if name == "repeat" else "sound")
                keep = _collapse(base)
                self._repeat_pos[name] = keep
                self._codes[name] = base[keep]
            else:
                raise KeyError(name)
        return self._codes[name]

    def repeat_positions(self, name: View) -> Positions:
        """repeat view position → compact view position (first character of the run)."""
        self.codes(name)
        return self._repeat_pos[name]

    def message_starts(self, layer: Layer) -> Positions:
        """Start position of each message in a view layer (`folded` or `compact`)."""
        if layer not in self._starts:
            if layer == "folded":
                starts = np.searchsorted(self.w_pos, self.a_start[:-1])
            elif layer == "compact":
                starts = np.searchsorted(self.c_pos, self.message_starts("folded"))
            else:
                repeat = self.repeat_positions(layer)
                starts = np.searchsorted(repeat, self.message_starts("compact"))
            self._starts[layer] = starts.astype(np.int64)
        return self._starts[layer]

    def message_ends(self, layer: Layer) -> Positions:
        """End (exclusive) of each message in a view layer: the next start less the SEP between
        them, so nothing read per message (shingles, signatures) spans into its neighbour."""
        starts = self.message_starts(layer)
        return np.append(starts[1:] - 1, len(self.codes(layer))).astype(np.int64)

    # -- mapping matches back to the original text --------------------------------------------

    def to_folded(self, layer: View, start: int, end: int) -> tuple[int, int]:
        """A [start, end) span of a compact-family view as a folded-view span."""
        c = self.c_pos
        if layer in ("compact", "sound"):
            return int(c[start]), int(c[end - 1]) + 1
        repeat = self.repeat_positions(layer)
        last = int(repeat[end]) - 1 if end < len(repeat) else len(c) - 1
        return int(c[repeat[start]]), int(c[last]) + 1

    def spans_to_folded(
        self, layer: View, start: Positions, end: Positions
    ) -> tuple[Positions, Positions]:
        """Vectorised `to_folded` for many spans of one view."""
        c = self.c_pos
        if layer in ("compact", "sound"):
            return c[start], c[end - 1] + 1
        repeat = self.repeat_positions(layer)
        nxt = np.append(repeat, len(c))[end] - 1
        return c[repeat[start]], c[nxt] + 1

    def spans_to_original(
        self, messages: Positions, w_start: Positions, w_end: Positions
    ) -> tuple[list[int], list[int]]:
        """Vectorised `to_original` (trailing ignorables included, as there)."""
        stops = np.append(self.w_pos, self.a_start[-1] - 1)[w_end]
        base = self.a_start[messages]
        starts = (self.w_pos[w_start] - base).tolist()
        ends = (stops - base).tolist()
        if self.src:
            for k, message in enumerate(messages.tolist()):
                if message in self.src:
                    starts[k], ends[k] = self.to_original(message, int(w_start[k]), int(w_end[k]))
        return starts, ends

    def to_original(self, message: int, w_start: int, w_end: int) -> tuple[int, int]:
        """A folded-view span as [start, end) code-point offsets in the original message."""
        first = int(self.w_pos[w_start])
        # end just before the next kept character, so trailing keycaps/selectors come along
        stop = int(self.w_pos[w_end]) if w_end < len(self.w_pos) else int(self.a_start[-1]) - 1
        base = int(self.a_start[message])
        offsets = self.src.get(message)
        if offsets is None:
            return first - base, stop - base
        return int(offsets[first - base]), int(offsets[stop - base - 1]) + 1


def visible_cut(folding: Folding, text: str, limit: int) -> int | None:
    """Where to cut `text` so it keeps its first `limit` visible characters (letters and
    digits after folding), or None if it has no more than that.

    A length cap that counted code points could be beaten by padding: one letter with 100k
    combining marks, or 30k zero-width spaces or blanks, before 约炮 pushed the term past the
    cap. Counting only what matching sees, padding costs the sender nothing and hides nothing.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    visible = folding.word.take(folding.fold.take(codes)) | folding.expandable.take(codes)
    where = np.flatnonzero(visible)
    return int(where[limit]) if len(where) > limit else None


def _expand(folding: Folding, text: str) -> tuple[str, Positions]:
    """Replace characters that fold to several (⑩ → 10) and map each output back to its source."""
    out: list[str] = []
    offsets: list[int] = []
    expand = folding.expand  # a dict look-up per character, not a numpy scalar read
    for i, ch in enumerate(text):
        piece = expand.get(ord(ch))
        if piece is not None:
            out.append(piece)
            offsets.extend([i] * len(piece))
        else:
            out.append(ch)
            offsets.append(i)
    offsets.append(len(text))  # the joiner after the message
    return "".join(out), np.asarray(offsets, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Normalized:
    """One message's compact view and, per character, the original span it came from."""

    text: str
    spans: tuple[tuple[int, int], ...]


def normalize(folding: Folding, text: str, view: View = "compact") -> Normalized:
    """The single-message form of the batch views (tests, debugging, `screener explain`)."""
    batch = BatchText.build(folding, [text])
    out = batch.view(view)
    spans: list[tuple[int, int]] = []
    for i in range(len(out)):
        w = (i, i + 1) if view in ("folded", "digits") else batch.to_folded(view, i, i + 1)
        spans.append(batch.to_original(0, *w))
    return Normalized(out, tuple(spans))


_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed(texts: list[str]) -> list[str]:
    """`texts` with each lone surrogate (a code point no UTF-8 or UTF-32 can hold, e.g. from
    bytes read with `surrogateescape`) replaced by U+FFFD: one character for one, so every
    position in the text stays where it was, and verdicts quoting it can be written as JSON."""
    return [_SURROGATE.sub("\ufffd", t) for t in texts]
