"""Near-duplicate signatures: the measured choice holds, and `screener bank build` works."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from screener.banks.bank import load_bank
from screener.campaigns import signatures
from screener.campaigns.measure import measure
from screener.cli import main
from screener.rules.pack import load_packs
from screener.text.views import BatchText

PACKS = Path(__file__).parents[2] / "screener" / "packs"


def test_minhash_finds_edited_copies_that_simhash_misses() -> None:
    folding = load_packs([PACKS]).folding
    minhash, simhash = measure(folding, copies=60, unrelated=None)
    assert minhash.name == "minhash-lsh" and simhash.name == "simhash"
    assert minhash.campaign_median >= 25  # of 60 edited copies, the most-shared band sees many
    assert simhash.campaign_median < minhash.campaign_median / 3


def test_spacing_and_emoji_do_not_change_the_signature() -> None:
    folding = load_packs([PACKS]).folding
    texts = [
        "兼职刷单日结三百元加微信abc12345详聊",
        "兼 职 刷 单 ❤ 日结三百元，加微信 abc12345 详聊!!",
        "好的",
    ]
    batch = BatchText.build(folding, texts)
    codes, starts = batch.codes("compact"), batch.message_starts("compact")
    h, owner = signatures.shingles(codes, starts, batch.message_ends("compact"))
    keys, has = signatures.minhash_bands(h, owner, len(texts))
    assert has.tolist() == [True, True, False]  # "好的" is too short to sign
    assert np.array_equal(keys[0], keys[1])


def test_a_message_signs_the_same_wherever_it_sits_in_the_batch() -> None:
    """No 3-gram spans the separator into the next message: the same advert last in a batch
    (no separator after it) and in the middle get the same bands."""
    folding = load_packs([PACKS]).folding
    spam = "兼职刷单日结三百元加微信abc12345详聊"
    batch = BatchText.build(folding, [spam, "周末一起去爬山吧天气很好", spam])
    codes, starts = batch.codes("compact"), batch.message_starts("compact")
    h, owner = signatures.shingles(codes, starts, batch.message_ends("compact"))
    assert np.bincount(owner).tolist()[0] == np.bincount(owner).tolist()[2]
    for bands in (signatures.minhash_bands, signatures.simhash_bands):
        keys, _ = bands(h, owner, 3)
        assert np.array_equal(keys[0], keys[2]), bands


def test_both_signatures_skip_the_same_short_messages_and_sign_the_rest() -> None:
    """A short message between two signed ones: neither signature shifts onto the wrong row."""
    folding = load_packs([PACKS]).folding
    spam = "兼职刷单日结三百元加微信abc12345详聊"
    texts = [spam, "好的", spam, "周末一起去爬山吧天气很好"]  # the last message ends the batch
    batch = BatchText.build(folding, texts)
    codes, starts = batch.codes("compact"), batch.message_starts("compact")
    h, owner = signatures.shingles(codes, starts, batch.message_ends("compact"))
    for bands in (signatures.minhash_bands, signatures.simhash_bands):
        keys, has = bands(h, owner, len(texts))
        assert has.tolist() == [True, False, True, True], bands
        assert not keys[1].any() and keys[0].all() and np.array_equal(keys[0], keys[2]), bands
    none, nothing = signatures.simhash_bands(h[:0], owner[:0], 2)
    assert none.shape == (2, 4) and not none.any() and not nothing.any()


def test_bank_build_from_hash_lists(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    (tmp_path / "sha.txt").write_text(f"# list\n{digest}\n", encoding="utf-8")
    (tmp_path / "mixed.txt").write_text("pdq:" + "ab" * 32 + "\tcase-9\n", encoding="utf-8")
    out = tmp_path / "bank.txt"
    assert main(["bank", str(tmp_path / "sha.txt"), "--kind", "sha256", "-o", str(out)]) == 0
    assert main(["bank", str(tmp_path / "sha.txt"), str(tmp_path / "mixed.txt"), "--kind",
                 "sha256", "-o", str(out)]) == 0  # fmt: skip
    bank = load_bank(out)
    assert len(bank) == 2 and bank.pdq_labels == ("case-9",)
    (tmp_path / "bad.txt").write_text("nothex\n", encoding="utf-8")
    assert main(["bank", str(tmp_path / "bad.txt"), "-o", str(out)]) == 2


def test_generate_preset_weaves_labelled_episodes_the_pack_flags(tmp_path: Path) -> None:
    import orjson

    from screener.engine import Engine
    from screener.scan import scan

    out = tmp_path / "b.jsonl"
    assert main(["generate", "--count", "4000", "--preset", "image-flood", "--out", str(out)]) == 0
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    flood = [i for i, e in enumerate(events) if e["user"]["id"].startswith("o-flood-")]
    assert len(flood) == 300 and all(events[i]["_label"] == "porn" for i in flood)
    engine = Engine(load_packs([PACKS]))
    with out.open("rb") as f:
        verdicts = list(scan(engine, [f]))
    tripped = [i for i in flood if any(x.rule == "porn.image_flood_window"
                                       for x in verdicts[i].findings)]  # fmt: skip
    assert len(tripped) == 2 * 50  # two episodes: posts 101..150 of each


@pytest.mark.parametrize("seed", range(20))
def test_shingles_of_some_messages_equal_all_shingles_filtered(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 12, rng.integers(1, 40))
    gaps = rng.integers(0, 3, len(lengths))  # separators between messages (or none)
    starts = np.cumsum(np.concatenate([[0], (lengths + gaps)[:-1]])).astype(np.int64)
    ends = starts + lengths
    codes = rng.integers(0, 50, int(ends[-1] + gaps[-1])).astype(np.uint32)
    chosen = np.flatnonzero(rng.random(len(lengths)) < 0.4).astype(np.int64)
    h, owner = signatures.shingles(codes, starts, ends)
    keep = np.isin(owner, chosen)
    got = signatures.shingles_of(codes, starts, ends, chosen)
    assert got[0].tolist() == h[keep].tolist()
    assert got[1].tolist() == owner[keep].tolist()


@pytest.mark.parametrize("seed", range(30))
def test_compiled_band_keys_equal_numpy_minhash(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`minhash_bands_of` (compiled) == `minhash_bands(shingles_of(...))` (numpy), bit for bit,
    with short messages (no signature), empty ones and repeated 3-grams."""
    if signatures._rings is None:
        assert os.environ.get("CI", "").lower() not in ("1", "true"), "_rings not built"
        pytest.skip("compiled band loop not built here")
    rng = np.random.default_rng(100 + seed)
    lengths = rng.integers(0, 40, rng.integers(1, 60))
    gaps = rng.integers(0, 3, len(lengths))
    starts = np.cumsum(np.concatenate([[0], (lengths + gaps)[:-1]])).astype(np.int64)
    ends = starts + lengths
    codes = rng.integers(0, rng.choice([5, 60, 70000]), int(ends[-1] + gaps[-1])).astype(np.uint32)
    chosen = np.flatnonzero(rng.random(len(lengths)) < 0.5).astype(np.int64)
    got = signatures.minhash_bands_of(codes, starts, ends, chosen, len(lengths))
    with monkeypatch.context() as m:
        m.setattr(signatures, "_rings", None)
        want = signatures.minhash_bands_of(codes, starts, ends, chosen, len(lengths))
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tolist() == want[1].tolist()
    assert got[1].any() or not len(chosen) or lengths[chosen].max() < 8
