"""Near-duplicate signatures of a batch's texts, computed over the compact folded view.

The compact view (letters and digits after folding: 加 V 信 → 加v信) already removes what
spammers vary for free (spacing, punctuation, emoji, width, traditional characters); what is
left — a changed digit, an added word — is what the signature must tolerate. Each message
becomes the set of its character 3-grams, hashed; then either

- **MinHash + LSH** (chosen): K = BANDS × ROWS min-hashes (multiply-shift hashing), banded;
  two texts share a band with probability J^ROWS (J: the Jaccard similarity of their 3-gram
  sets), so near-duplicates share some band and unrelated texts almost never do; or
- **SimHash**: a 64-bit sign vector of the summed hash bits, banded into 16-bit chunks (two
  hashes within 3 bits share a chunk).

Both are one numpy pass per batch. `measure()` compares them on generated near-duplicates
(`screener bench campaigns`); the numbers and the choice are in the README.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

try:  # the compiled band loop (screener/state/_rings.c); without it numpy, the same keys
    from screener.state import _rings  # type: ignore[attr-defined]
except ImportError:  # not built (no compiler at install time)
    _rings = None

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
MIN_SHINGLES = 6
"""texts with fewer compact 3-grams (under 8 letters/digits) get no signature: "ok", "好的"."""
BANDS = 8
ROWS = 3
K = BANDS * ROWS
_MUL = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93,
     0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3,
     0x1D8E4E27C47D124F, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x2545F4914F6CDD1D, 0x9FB21C651E98DF25,
     0x61C8864680B583EB, 0x85EBCA77C2B2AE63, 0xCC9E2D51DB873593, 0x1B87359368E6546B,
     0xE6546B64CC9E2D51, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1, 0x510E527FADE682D1],
    dtype=np.uint64,
)  # fmt: skip
"""odd 64-bit multipliers: one hash function per min-hash (no RNG state: stable everywhere)"""


def shingles(codes: npt.NDArray[np.uint32], starts: I64, ends: I64) -> tuple[U64, I64]:
    """Hashes of every 3-gram inside a message, and the message each belongs to."""
    c = codes.astype(np.uint64)
    n = len(c)
    if n < 3:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    with np.errstate(over="ignore"):
        h = (c[:-2] * np.uint64(0x100000001B3)) ^ (c[1:-1] * np.uint64(0x9E3779B1)) ^ c[2:]
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
    owner = np.searchsorted(starts, np.arange(n - 2), side="right") - 1
    ok = (owner >= 0) & (np.arange(n - 2) + 3 <= ends[np.maximum(owner, 0)])
    return h[ok], owner[ok]


def shingles_of(
    codes: npt.NDArray[np.uint32], starts: I64, ends: I64, messages: I64
) -> tuple[U64, I64]:
    """`shingles` kept for `messages` (sorted) only — the same hashes and owners in the same
    order — computed over those messages' codes alone (profiled: hashing every message's
    3-grams to keep the ~quarter of a batch with evidence was most of `shingles`)."""
    lo = starts[messages]
    count = np.maximum(ends[messages] - lo - 2, 0)  # 3-grams of each message
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    pos = np.arange(total) + np.repeat(lo - (np.cumsum(count) - count), count)
    c = codes.astype(np.uint64)
    with np.errstate(over="ignore"):  # the same hash as `shingles`
        h = (c[pos] * np.uint64(0x100000001B3)) ^ (c[pos + 1] * np.uint64(0x9E3779B1)) ^ c[pos + 2]
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
    return h, np.repeat(messages, count)


def _with_shingles(
    h: U64, owner: I64, messages: int
) -> tuple[npt.NDArray[np.bool_], U64, I64, I64]:
    """Which messages have enough 3-grams for a signature; the hashes and owners of those
    messages only; and where each such message's run of hashes starts (`owner` is sorted), so
    both signatures reduce per message with one `reduceat`. No such message: `first` is empty."""
    has = np.bincount(owner, minlength=messages) >= MIN_SHINGLES
    if not has.any():
        return has, h[:0], owner[:0], np.zeros(0, np.int64)
    sel = has[owner]
    h, owner = h[sel], owner[sel]
    first = np.concatenate([[0], np.nonzero(np.diff(owner))[0] + 1])
    return has, h, owner, first


def minhash_bands(h: U64, owner: I64, messages: int) -> tuple[U64, npt.NDArray[np.bool_]]:
    """(messages, BANDS) band keys, and which messages have enough 3-grams to have them."""
    keys = np.zeros((messages, BANDS), np.uint64)
    has, h, owner, first = _with_shingles(h, owner, messages)
    if not len(first):
        return keys, has
    with np.errstate(over="ignore"):
        perm = (h[:, None] * _MUL[None, :K]) >> np.uint64(32)  # (S, K) multiply-shift
    mins = np.minimum.reduceat(perm, first, axis=0)  # (messages with shingles, K)
    rows = mins.reshape(len(first), BANDS, ROWS)
    with np.errstate(over="ignore"):
        band = rows[:, :, 0]
        for r in range(1, ROWS):
            band = (band * np.uint64(0x100000001B3)) ^ rows[:, :, r]
        band ^= np.arange(BANDS, dtype=np.uint64)[None, :] << np.uint64(59)
    keys[owner[first]] = band
    return keys, has


def simhash_bands(h: U64, owner: I64, messages: int) -> tuple[U64, npt.NDArray[np.bool_]]:
    """(messages, 4) 16-bit chunks of each message's 64-bit SimHash (tagged with the chunk)."""
    keys = np.zeros((messages, 4), np.uint64)
    has, h, owner, first = _with_shingles(h, owner, messages)
    if not len(first):
        return keys, has
    bits = np.unpackbits(h.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    signs = bits.astype(np.int16) * 2 - 1
    sums = np.add.reduceat(signs, first, axis=0)
    packed = np.packbits(sums > 0, axis=1).view(">u8").astype(np.uint64).ravel()
    low = np.uint64(0xFFFF)
    parts = [((packed >> np.uint64(16 * i)) & low) | np.uint64(i << 16) for i in range(4)]
    chunks = np.stack(parts, axis=1)
    keys[owner[first]] = chunks
    return keys, has


def simhash64(h: U64, owner: I64, messages: int) -> U64:
    """The 64-bit SimHash of each message (0 where it has no 3-grams)."""
    keys, _ = simhash_bands(h, owner, messages)
    out = np.zeros(messages, np.uint64)
    for i in range(4):
        out |= (keys[:, i] & np.uint64(0xFFFF)) << np.uint64(16 * i)
    return out


def minhash_bands_of(
    codes: npt.NDArray[np.uint32], starts: I64, ends: I64, signed: I64, messages: int
) -> tuple[U64, npt.NDArray[np.bool_]]:
    """`minhash_bands(*shingles_of(codes, starts, ends, signed), messages)`: the band keys of
    the `signed` messages (sorted, distinct) of a batch of `messages`. Compiled where built
    (profiled: the numpy form's (3-grams, K) matrix was most of the campaigns' signing cost)."""
    if _rings is None:
        return minhash_bands(*shingles_of(codes, starts, ends, signed), messages)
    keys = np.zeros((messages, BANDS), np.uint64)
    has = np.zeros(messages, np.uint8)
    _rings.minhash(
        np.ascontiguousarray(codes, np.uint32), np.ascontiguousarray(starts, np.int64),
        np.ascontiguousarray(ends, np.int64), np.ascontiguousarray(signed, np.int64),
        _MUL[:K], keys, has,
    )  # fmt: skip
    return keys, has.view(np.bool_)
