"""Hash banks: exact radius search (vs brute force), loader limits and confinement."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from screener.banks import bank as bankmod
from screener.banks.bank import BankError, load_bank, random_pdq, write_bank
from screener.banks.bench import perturb
from screener.banks.mih import MultiIndex, brute_force, hamming, hex_to_words


def _hex(words: np.ndarray) -> list[str]:
    return [w.astype(">u8").tobytes().hex() for w in words]


@pytest.mark.parametrize("chunks", [None, 12, 16, 32])
def test_radius_search_agrees_with_brute_force(chunks: int | None) -> None:
    bank = random_pdq(3000, seed=5)
    index = MultiIndex(bank, 31, chunks)
    near = perturb(bank[:300], 31, seed=9)
    queries = np.concatenate([near, random_pdq(300, seed=6)])
    got = index.search(queries, batch=128)
    want = brute_force(bank, queries, 31)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert (got[0][:300] >= 0).all()


def test_distance_31_matches_and_32_does_not() -> None:
    bank = random_pdq(500, seed=1)
    q = bank[:2].copy()
    q[0, 0] ^= np.uint64((1 << 31) - 1)  # 31 bits flipped
    q[1, 0] ^= np.uint64((1 << 32) - 1)  # 32 bits flipped
    assert hamming(q, bank[:2]).tolist() == [31, 32]
    best, dist = MultiIndex(bank, 31).search(q)
    assert best.tolist() == [0, -1] and dist.tolist() == [31, -1]


def test_bank_file_round_trip(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"bad image").hexdigest()
    pdq = _hex(random_pdq(3, seed=2))
    path = tmp_path / "bad.txt"
    assert write_bank(path, [digest], pdq, {pdq[0]: "case-1"}) == 4
    bank = load_bank(path, root=tmp_path)
    assert len(bank) == 4
    assert bank.match_sha256([digest, "00" * 32, "zz"])[0] is not None
    assert bank.match_sha256(["00" * 32, "zz"]) == [None, None]
    w = hex_to_words([pdq[0]])
    w[0, 3] ^= np.uint64(0b111)
    m = bank.match_pdq([_hex(w)[0], _hex(random_pdq(1, seed=99))[0]])
    assert m[0] is not None and m[0].distance == 3 and m[0].label == "case-1"
    assert m[1] is None


def test_bank_outside_its_directory_is_refused(tmp_path: Path) -> None:
    inside = tmp_path / "packs"
    inside.mkdir()
    outside = tmp_path / "elsewhere.txt"
    write_bank(outside, [], [])
    with pytest.raises(BankError, match="must be inside"):
        load_bank(inside / ".." / "elsewhere.txt", root=inside)


def test_bad_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "b.txt"
    path.write_text("# ok\nsha256:" + "a" * 64 + "\npdq:1234\n")
    with pytest.raises(BankError, match=r"b.txt:3: expected"):
        load_bank(path)


def test_bank_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.txt"
    write_bank(path, ["a" * 64, "b" * 64], [])
    monkeypatch.setattr(bankmod, "MAX_ENTRIES", 1)
    with pytest.raises(BankError, match="more than 1 hashes"):
        load_bank(path)
    monkeypatch.setattr(bankmod, "MAX_BANK_BYTES", 10)
    with pytest.raises(BankError, match="exceeds 10"):
        load_bank(path)
