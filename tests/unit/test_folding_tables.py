"""The fast paths of `compute_folding` agree with the per-character definitions they skip."""

from __future__ import annotations

import unicodedata

import numpy as np
import opencc

from screener.text import folding
from screener.text.folding import _FOLDED_RANGES, compute_folding, fold_char


def test_code_points_left_out_of_fold_char_are_the_ones_it_keeps() -> None:
    t2s = opencc.OpenCC("t2s")
    skipped = 0
    for lo, hi in _FOLDED_RANGES:
        changing = set(folding._changing(lo, hi))
        for cp in range(lo, hi):
            if cp not in changing and not 0xD800 <= cp < 0xE000:
                assert fold_char(chr(cp), t2s) == chr(cp), hex(cp)
                skipped += 1
    assert skipped > 5000  # the fast path does skip most of them


def test_word_and_hard_masks_follow_the_unicode_categories() -> None:
    tables = compute_folding()
    ranges = (*_FOLDED_RANGES, *folding._CJK_SCRIPT, (0x10000, 0x20000))
    word = np.zeros(folding.N_CODEPOINTS, dtype=np.bool_)
    for lo, hi in ranges:
        for cp in range(lo, hi):
            cat = unicodedata.category(chr(cp))
            word[cp] = cat[0] == "L" or cat == "Nd"
    word[folding.SEP] = True
    assert np.array_equal(tables.word, word)
    hard = np.array(
        [unicodedata.category(chr(cp)) in ("Ps", "Pe", "Pi", "Pf") for cp in range(0x10000)]
    )
    for ch in ",;:?!。、":
        hard[ord(ch)] = True
    assert np.array_equal(tables.hard[:0x10000], hard) and not tables.hard[0x10000:].any()
