"""Known-bad media hash banks: SHA-256 (exact) and PDQ (within a Hamming distance).

A bank file is text, one hash a line, like a lexicon file:

    # comments and blank lines are skipped
    sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    pdq:f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22	csam-2019

(`kind:hex`, then optionally a tab and a label.) Loading is bounded: the file must lie inside
the directory allowed (a pack's own directory), be at most `MAX_BANK_BYTES`, and hold at most
`MAX_ENTRIES` hashes; a bad line is refused with file:line. PDQ matches use the compiled index
of `fast.py` (the numpy `MultiIndex` where the extension is not built), distance 31 by default,
as Meta's Hasher-Matcher-Actioner does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from screener.banks.fast import CompiledIndex, make_index
from screener.banks.mih import MultiIndex, hex_to_words

MAX_BANK_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 5_000_000
DEFAULT_DISTANCE = 31
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
KINDS = ("sha256", "pdq")


class BankError(ValueError):
    """A bank file that cannot be used, with file:line where it can say."""


@dataclass(frozen=True)
class BankMatch:
    kind: str
    hash: str
    distance: int
    label: str | None


@dataclass(eq=False)
class HashBank:
    """One loaded bank: a set of SHA-256 digests and an index of PDQ hashes."""

    name: str
    sha256: dict[bytes, str | None] = field(default_factory=dict)
    pdq_hex: tuple[str, ...] = ()
    pdq_labels: tuple[str | None, ...] = ()
    distance: int = DEFAULT_DISTANCE
    index: CompiledIndex | MultiIndex | None = None

    def __post_init__(self) -> None:
        if self.pdq_hex and self.index is None:
            self.index = make_index(hex_to_words(self.pdq_hex), self.distance)

    def __len__(self) -> int:
        return len(self.sha256) + len(self.pdq_hex)

    def match_sha256(self, digests: Sequence[str]) -> list[BankMatch | None]:
        out: list[BankMatch | None] = []
        for d in digests:
            try:
                key = bytes.fromhex(d)
            except ValueError:
                out.append(None)
                continue
            if key in self.sha256:
                out.append(BankMatch("sha256", d.lower(), 0, self.sha256[key]))
            else:
                out.append(None)
        return out

    def match_pdq(self, hashes: Sequence[str]) -> list[BankMatch | None]:
        """Nearest bank hash within `distance` for each (64-hex) PDQ hash, or None."""
        if not hashes or self.index is None:
            return [None] * len(hashes)
        best, dist = self.index.search(hex_to_words(list(hashes)))
        return [
            BankMatch("pdq", self.pdq_hex[b], int(d), self.pdq_labels[b]) if b >= 0 else None
            for b, d in zip(best.tolist(), dist.tolist(), strict=True)
        ]


def parse_lines(
    lines: Iterable[str], where: str
) -> tuple[dict[bytes, str | None], list[str], list[str | None]]:
    sha: dict[bytes, str | None] = {}
    pdq: dict[str, str | None] = {}
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        entry, _, label = text.partition("\t")
        kind, sep, value = entry.strip().partition(":")
        if not sep or kind not in KINDS or not _HEX64.match(value):
            raise BankError(f"{where}:{lineno}: expected sha256:<64 hex> or pdq:<64 hex>")
        if len(sha) + len(pdq) >= MAX_ENTRIES:
            raise BankError(f"{where}:{lineno}: more than {MAX_ENTRIES} hashes")
        tag = label.strip() or None
        if kind == "sha256":
            sha[bytes.fromhex(value)] = tag
        else:
            pdq[value.lower()] = tag
    ordered = sorted(pdq)
    return sha, ordered, [pdq[h] for h in ordered]


def load_bank(path: Path | str, *, root: Path | str | None = None, name: str | None = None,
              distance: int = DEFAULT_DISTANCE) -> HashBank:  # fmt: skip
    """Read a bank file; with `root`, refuse one that resolves outside that directory."""
    resolved = Path(path).resolve()
    if root is not None:
        base = Path(root).resolve()
        if not resolved.is_relative_to(base):
            raise BankError(f"{path}:1: bank files must be inside {base}")
    if not 0 <= distance <= 64:
        raise BankError(f"{path}:1: distance {distance} is out of range 0..64")
    try:
        size = resolved.stat().st_size
        if size > MAX_BANK_BYTES:
            raise BankError(f"{path}:1: bank of {size} bytes exceeds {MAX_BANK_BYTES}")
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BankError(f"{path}:1: cannot read bank: {exc}") from exc
    sha, pdq, labels = parse_lines(text.splitlines(), str(path))
    return HashBank(name or resolved.stem, sha, tuple(pdq), tuple(labels), distance)


def write_bank(path: Path | str, sha256: Iterable[str], pdq: Iterable[str],
               labels: dict[str, str] | None = None) -> int:  # fmt: skip
    """Write a bank file (sorted, deduplicated); returns the number of hashes written."""
    labels = labels or {}
    lines = ["# screener hash bank: kind:hex[<TAB>label]"]
    count = 0
    for kind, values in (("sha256", sha256), ("pdq", pdq)):
        for h in sorted({v.lower() for v in values}):
            if not _HEX64.match(h):
                raise BankError(f"not a 64-hex-digit {kind} hash: {h[:70]!r}")
            label = labels.get(h)
            lines.append(f"{kind}:{h}" + (f"\t{label}" if label else ""))
            count += 1
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


def random_pdq(n: int, seed: int = 0) -> np.ndarray:
    """(n, 4) uniformly random 256-bit hashes (benchmarks and tests)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(np.uint64).max, (n, 4), dtype=np.uint64, endpoint=True)
