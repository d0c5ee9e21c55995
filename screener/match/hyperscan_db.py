"""The Hyperscan side of the regex prefilter: one database per view, and its cache entry.

Kept apart from `screener.match.regexes` (which decides what prefilters a batch) because it
is the part that depends on the optional library and on the artefact cache format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from screener.artefacts import ArtefactCache, content_key


class Refused(ValueError):
    """Hyperscan will not compile a pattern (one that can match the empty string, say)."""


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
        raise Refused(f"Hyperscan: {exc}") from exc
    return db


def _prefilter_db(patterns: Sequence[str], ids: Sequence[int]) -> tuple[Any, list[int]]:
    """The prefilter reporting `ids[k]` for `patterns[k]`, and the ids of patterns Hyperscan
    refuses (RE2 searches those).

    Each pattern has `{0,n}` widened to `*` where that still compiles: Hyperscan pays for
    bounded repeats (`.{0,60}`, `[^.!?]{0,40}`); unbounded ones are cheap, and a looser
    pattern only admits more candidates, which RE2 then checks exactly. On the shipped packs
    this cut the prefilter's cost by about 30%. Only when the whole set fails is each pattern
    tried alone, to find the ones to leave out.
    """
    loose = [_unbounded(p) for p in patterns]
    try:
        return _hyperscan_db(loose, ids), []
    except Refused:
        pass
    kept: list[tuple[int, str]] = []
    refused: list[int] = []
    for k, wide, exact in zip(ids, loose, patterns, strict=True):
        for candidate in dict.fromkeys((wide, exact)):
            try:
                _hyperscan_db([candidate])
            except Refused:
                continue
            kept.append((k, candidate))
            break
        else:
            refused.append(k)
    if not kept:
        return None, refused
    return _hyperscan_db([p for _, p in kept], [k for k, _ in kept]), refused


def _prefilter_key(patterns: Sequence[str], ids: Sequence[int]) -> str:
    import platform

    import hyperscan

    return content_key(
        "prefilter-v2", str(getattr(hyperscan, "__version__", "?")), platform.machine(),
        ",".join(map(str, ids)), *patterns,
    )  # fmt: skip


def _load_prefilter(
    patterns: Sequence[str], ids: Sequence[int], cache: ArtefactCache
) -> tuple[Any, list[int]] | None:
    """A cached `_prefilter_db` result (None if absent or unusable): an entry holds the
    refused ids and the serialised database (Hyperscan's own format), keyed by patterns,
    ids, library and machine."""
    import hyperscan

    blob = cache.get("hyperscan", _prefilter_key(patterns, ids))
    if blob is None or len(blob) < 4:
        return None
    n = int.from_bytes(blob[:4], "little")
    refused = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "little") for i in range(n)]
    body = blob[4 + 4 * n :]
    try:
        if not set(refused) <= set(ids):
            raise ValueError("refused id out of range")
        if not body:
            return None, refused
        db = hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK)
        db.scratch = hyperscan.Scratch(db)  # a loaded database comes without one
        db.scan(b"\n", match_event_handler=lambda *_: None)  # usable here, or rebuild
        return db, refused
    except (hyperscan.error, ValueError):
        return None  # damaged or from another build: compile again


def _cached_prefilter(
    patterns: Sequence[str], ids: Sequence[int], cache: ArtefactCache | None
) -> tuple[Any, list[int]]:
    """`_prefilter_db` through the cache (`None`: no cache)."""
    import hyperscan

    found = _load_prefilter(patterns, ids, cache) if cache is not None else None
    if found is not None:
        return found
    db, refused = _prefilter_db(patterns, ids)
    if cache is not None:
        head = len(refused).to_bytes(4, "little")
        head += b"".join(k.to_bytes(4, "little") for k in refused)
        blob = head + (hyperscan.dumpb(db) if db is not None else b"")
        cache.put("hyperscan", _prefilter_key(patterns, ids), blob)
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
