"""The one fixed split of every labelled file into a tuning part and a held part.

A row's part is a function of its text alone: the first 8 bytes of SHA-256 over a fixed salt
and the UTF-8 text, read as an integer, modulo 100; below `HELD_PERCENT` is `held`. No split
file is written or copied anywhere: anyone with the same file gets the same parts, rows with
the same text always land in the same part (no leakage through duplicates), and adding rows
to a file never moves the old ones. Rules and models may be tuned and trained on `tune` only;
quality is reported on `held`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

SALT = b"screener-holdout-v1\x00"
HELD_PERCENT = 50
Part = Literal["tune", "held"]
PARTS: tuple[str, ...] = ("tune", "held", "all")

T = TypeVar("T")


def part_of(text: str) -> Part:
    """`held` or `tune` for one row's text (stable across runs, machines and Python versions)."""
    digest = hashlib.sha256(SALT + text.encode("utf-8", "surrogatepass")).digest()
    return "held" if int.from_bytes(digest[:8], "big") % 100 < HELD_PERCENT else "tune"


def select(rows: Iterable[T], part: str, text_of: Callable[[T], str] | None = None) -> list[T]:
    """The rows of one part (`tune`, `held`) or all of them (`all`).

    `text_of` extracts a row's text (default: the row's `text` attribute).
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    items = list(rows)
    if part == "all":
        return items
    get: Callable[[Any], str] = text_of if text_of is not None else (lambda r: r.text)
    return [r for r in items if part_of(get(r)) == part]
