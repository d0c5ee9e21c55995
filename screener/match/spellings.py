"""Toneless pinyin of term texts, remembered in the artefact cache between runs.

Why: `import pypinyin` trains its word segmenter at import (~0.3 s, about a quarter of a
`screener scan` start-up whose folding tables and regex databases already come from the
cache). The spellings are a pure function of the text and the pypinyin version, so a start
whose terms were all spelled before never imports it.
"""

from __future__ import annotations

from importlib import metadata

import orjson

from screener.artefacts import ArtefactCache, content_key

KEEP = 100_000
"""Spellings kept across runs at most (a pack set holds at most 500,000 terms; past this only
the current build's spellings are kept, so the entry stays bounded)."""


def _version() -> str:
    try:
        return metadata.version("pypinyin")
    except metadata.PackageNotFoundError:
        return "unknown"


class Spellings:
    """`spell(text)` → pinyin syllables; misses import pypinyin, `save()` stores new ones."""

    def __init__(self, cache: ArtefactCache):
        self._cache = cache
        self._key = content_key("pinyin-spellings-v1", _version())
        self._known: dict[str, list[str]] = {}
        self._used: set[str] = set()
        self._new = False
        raw = cache.get("pinyin", self._key)
        if raw is not None:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = None
            if isinstance(data, dict) and all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in data.values()
            ):
                self._known = data

    def __call__(self, text: str) -> list[str]:
        self._used.add(text)
        got = self._known.get(text)
        if got is None:
            from pypinyin import lazy_pinyin

            got = self._known[text] = [s for s in lazy_pinyin(text) if s]
            self._new = True
        return got

    def save(self) -> None:
        if not self._new:
            return
        known = self._known
        if len(known) > KEEP:
            known = {t: known[t] for t in self._used}
        self._cache.put("pinyin", self._key, orjson.dumps(known))
        self._new = False
