"""Folding tables as plain bytes, so a process can load them instead of computing them.

Computing the tables walks ~300k code points through unicodedata, OpenCC and the pinyin
dictionary (≈ 0.35 s of CPU, and importing pypinyin another ≈ 0.3 s): more than the rest of a
pack compile. They depend only on the code and the library versions, so they are kept in the
artefact cache under a key naming those. The format is a small JSON header plus raw numpy
buffers (tables stored as their differences from the identity, masks bit-packed): no pickle,
and a damaged or unexpected entry is simply rebuilt.
"""

from __future__ import annotations

import importlib.metadata
import json
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from screener.artefacts import content_key

_TABLES = ("fold", "digits", "sound")
_MASKS = ("expandable", "word", "alnum", "hard")
MAX_EXPAND = 100_000
MAX_CODEPOINTS = 0x110000


def folding_key() -> str:
    """Everything the tables are computed from: the folding code and the data it reads."""
    code = (Path(__file__).parent / "folding.py").read_bytes()
    versions = [importlib.metadata.version(p) for p in ("opencc", "pypinyin", "numpy")]
    return content_key("folding-v2", code, unicodedata.unidata_version, *versions)


def encode(folding: Any) -> bytes:
    """A `Folding`'s tables as bytes (typed loosely: `folding.py` imports this module)."""
    n = len(folding.fold)
    header: dict[str, object] = {"n": n, "expand": {str(k): v for k, v in folding.expand.items()}}
    buffers: list[bytes] = []
    identity = np.arange(n, dtype=np.uint32)
    for name in _TABLES:
        table = getattr(folding, name)
        where = np.flatnonzero(table != identity).astype(np.uint32)
        buffers += [where.tobytes(), table[where].astype(np.uint32).tobytes()]
    for name in _MASKS:
        buffers.append(np.packbits(getattr(folding, name)).tobytes())
    header["sizes"] = [len(b) for b in buffers]
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    return len(head).to_bytes(4, "little") + head + b"".join(buffers)


def decode(blob: bytes) -> dict[str, Any]:
    """The fields of a `Folding` from `encode`'s bytes; ValueError for anything that does not
    fit."""
    head = int.from_bytes(blob[:4], "little")
    header = json.loads(blob[4 : 4 + head].decode("utf-8"))
    sizes = header["sizes"]
    if len(sizes) != 2 * len(_TABLES) + len(_MASKS) or 4 + head + sum(sizes) != len(blob):
        raise ValueError("folding tables: unexpected layout")
    n = header["n"]
    if not isinstance(n, int) or not 0 < n <= MAX_CODEPOINTS:
        raise ValueError("folding tables: bad size")
    buffers, pos = [], 4 + head
    for size in sizes:
        buffers.append(blob[pos : pos + size])
        pos += size
    tables: dict[str, np.ndarray] = {}
    for i, name in enumerate(_TABLES):
        where = np.frombuffer(buffers[2 * i], dtype=np.uint32)
        values = np.frombuffer(buffers[2 * i + 1], dtype=np.uint32)
        if len(where) != len(values) or (len(where) and int(where.max()) >= n):
            raise ValueError(f"folding tables: bad {name}")
        table = np.arange(n, dtype=np.uint32)
        table[where] = values
        tables[name] = table
    masks: dict[str, np.ndarray] = {}
    for j, name in enumerate(_MASKS):
        bits = np.frombuffer(buffers[2 * len(_TABLES) + j], dtype=np.uint8)
        mask = np.unpackbits(bits, count=n).astype(np.bool_)
        if len(mask) != n:
            raise ValueError(f"folding tables: bad {name}")
        masks[name] = mask
    expand = header["expand"]
    if not isinstance(expand, dict) or len(expand) > MAX_EXPAND:
        raise ValueError("folding tables: bad expand")
    return {
        "fold": tables["fold"], "expand": {int(k): str(v) for k, v in expand.items()},
        "expandable": masks["expandable"], "word": masks["word"], "alnum": masks["alnum"],
        "digits": tables["digits"], "sound": tables["sound"], "hard": masks["hard"],
    }  # fmt: skip
