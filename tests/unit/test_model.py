"""The learned model: features, training, the model file's checks, and `model.<category>` in
rule conditions (the engine passes a probability on only from the pack's floor)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from screener.engine import Engine
from screener.model.features import ngrams, segment_sums
from screener.model.linear import ModelError, load, save
from screener.model.train import TrainConfig, fit
from screener.rules import PackError, load_packs
from screener.text.folding import SEP, build_folding
from screener.text.views import BatchText

PORN = ["黄色视频全套资源加微信", "色情图片每天更新私聊", "成人视频 高清资源", "小黄片合集网盘"]
FINE = ["今天天气不错", "晚上约朋友吃饭", "微信支付成功了", "周末一起去公园散步"]


@pytest.fixture(scope="module")
def folding():  # type: ignore[no-untyped-def]
    return build_folding()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, folding) -> Path:  # type: ignore[no-untyped-def]
    model = fit(folding, PORN + FINE, ["porn"] * 4 + ["benign"] * 4,
                TrainConfig(bits=12, epochs=60, learning_rate=0.05))  # fmt: skip
    out = tmp_path_factory.mktemp("m") / "model"
    save(model, out)
    return out


def test_ngrams_never_span_messages() -> None:
    codes = np.array([ord("a"), ord("b"), SEP, ord("c"), SEP, ord("d"), ord("e")], np.uint32)
    starts = np.array([0, 3, 5], np.int64)
    bi = ngrams(codes, starts, 2, 10)
    assert np.diff(bi.starts).tolist() == [1, 0, 1]  # ab | (c alone) | de
    uni = ngrams(codes, starts, 1, 10)
    assert np.diff(uni.starts).tolist() == [2, 1, 2]
    same = ngrams(np.array([ord("a"), ord("b")], np.uint32), np.array([0], np.int64), 2, 10)
    assert same.buckets.tolist() == bi.buckets[:1].tolist()  # hashing is position-free


def test_ngram_starts_count_the_kept_ngrams() -> None:
    """Message boundaries come from a binary search over the dropped n-grams: the same
    integers as a cumulative count of the kept ones, whatever separators a batch holds."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        codes = rng.choice([ord("a"), ord("b"), SEP], size=int(rng.integers(1, 60))).astype(
            np.uint32
        )
        starts = np.sort(rng.integers(0, len(codes) + 1, size=int(rng.integers(1, 8))))
        for order in (1, 2, 3):
            got = ngrams(codes, starts, order, 10)
            count = max(len(codes) - order + 1, 0)
            if count == 0:
                continue
            kept = ~np.any([codes[k : k + count] == SEP for k in range(order)], axis=0)
            before = np.concatenate([[0], np.cumsum(kept)])
            bounds = np.append(np.minimum(starts, count), count)
            assert got.starts.tolist() == before[bounds].tolist()
            assert len(got.buckets) == int(kept.sum())


def test_segment_sums_with_empty_segments() -> None:
    rows = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = segment_sums(rows, np.array([0, 0, 3, 3, 4], np.int64))
    assert out.tolist() == [[0, 0], [6, 9], [0, 0], [6, 7]]


def test_trained_model_separates_and_round_trips(model_dir: Path, folding) -> None:  # type: ignore[no-untyped-def]
    model = load(model_dir)
    assert model.classes == ("benign", "porn") and model.version.startswith("sha256:")
    probs = model.predict(BatchText.build(folding, ["黄色视频资源", "约朋友吃饭", ""]))
    assert probs[0, 1] > 0.5 > probs[1, 1]
    assert np.allclose(probs.sum(axis=1), 1.0)
    # evasions fold to the same features: separators and full width change nothing
    same = model.predict(BatchText.build(folding, ["黄 色-视 频资源", "黄色视频资源"]))
    assert abs(same[0, 1] - same[1, 1]) < 1e-6


def test_model_file_checks(model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_bytes((model_dir / "model.json").read_bytes())
    weights = bytearray((model_dir / "weights.npz").read_bytes())
    weights[-30] ^= 1
    (bad / "weights.npz").write_bytes(bytes(weights))
    with pytest.raises(ModelError, match="SHA-256"):
        load(bad)
    meta = json.loads((model_dir / "model.json").read_text())
    meta["bits"] = 40
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="bits"):
        load(bad)
    with pytest.raises(ModelError, match="directory"):
        load(tmp_path / "missing")
    # a pickled object array is refused even with a matching hash
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    with (pickled / "weights.npz").open("wb") as fh:
        np.savez(fh, W=np.array([object()], dtype=object), b=np.zeros(2, np.float32))
    import hashlib

    meta = json.loads((model_dir / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((pickled / "weights.npz").read_bytes()).hexdigest()
    (pickled / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError):
        load(pickled)


def _pack(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(body, encoding="utf-8")
    return path


RULE = """
rules:
  - id: porn.model
    category: porn
    score: 6
    condition: model.porn > 0.6
"""


def _beside(model_dir: Path, tmp_path: Path) -> str:
    """A copy of the model in the pack's directory (packs read only files below them)."""
    shutil.copytree(model_dir, tmp_path / "model")
    return "model"


def test_model_condition_in_a_pack(model_dir: Path, tmp_path: Path) -> None:
    pack = load_packs([_pack(tmp_path, f"model: {_beside(model_dir, tmp_path)}\n{RULE}")])
    assert pack.model is not None and pack.model_floors == ((1, 0.6),)
    verdicts = Engine(pack).screen_texts(["黄色视频资源", "约朋友吃饭"])
    assert [v.flagged for v in verdicts] == [True, False]
    assert verdicts[0].findings[0].rule == "porn.model"
    # the model's content is part of the version: same rules without it differ
    plain = load_packs([_pack(tmp_path, RULE)])
    assert plain.version != pack.version
    with pytest.raises(PackError, match=r"outside|absolute"):
        load_packs([_pack(tmp_path, f"model: {model_dir}\n{RULE}")])


def test_model_flag_replaces_the_declared_one(model_dir: Path, tmp_path: Path) -> None:
    path = _pack(tmp_path, RULE)
    without = load_packs([path])  # ready for a model, never fires without one
    assert without.model is None and not Engine(without).screen_texts(["黄色视频资源"])[0].flagged
    pack = load_packs([path], model=model_dir)
    assert pack.model is not None and Engine(pack).screen_texts(["黄色视频资源"])[0].flagged
    bad = _pack(tmp_path, RULE.replace("model.porn", "model.gambling"))
    with pytest.raises(PackError, match="no category"):
        load_packs([bad], model=model_dir)
    with pytest.raises(PackError, match="directory"):
        load_packs([path], model=tmp_path / "nowhere")


def test_floor_and_other_uses(model_dir: Path, tmp_path: Path) -> None:
    body = (
        RULE
        + """
  - id: porn.low
    category: porn
    score: 1
    condition: hit(x) and not model.porn > 0.9
lexicons:
  x: {terms: [约朋友]}
"""
    )
    pack = load_packs([_pack(tmp_path, f"model: {_beside(model_dir, tmp_path)}\n{body}")])
    assert pack.model_floors == ((1, 0.0),)  # `not model.porn > 0.9` must see every message
    verdicts = Engine(pack).screen_texts(["约朋友吃饭"])
    assert verdicts[0].findings[0].rule == "porn.low"


def test_train_command(tmp_path: Path) -> None:
    from screener.cli import main

    data = tmp_path / "mine.csv"
    rows = [f"{t},porn" for t in PORN] + [f"{t},ok" for t in FINE] + ["x,spam"]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["train", str(data), "--out", str(out), "--map", "ok=benign,spam=-",
                 "--map", "porn=porn", "--bits", "10", "--epochs", "5"])  # fmt: skip
    assert code == 0
    model = load(out)
    assert model.meta["class_rows"] == {"benign": 4, "porn": 4}
    assert model.meta["trained_on"] == ["mine.csv"]


def test_minimum_evidence_guard_and_orders(tmp_path: Path, folding) -> None:  # type: ignore[no-untyped-def]
    from screener.cli import main
    from screener.model.features import batch_ngrams, scale

    batch = BatchText.build(folding, ["黄色", "黄色视频全套资源加微信"])
    parts = batch_ngrams(batch, (1, 2, 3), 12)
    plain, guarded = scale(parts), scale(parts, min_ngrams=16)
    assert plain[0] > guarded[0]  # a 2-character text (3 n-grams) is damped ...
    assert guarded[0] == pytest.approx(1 / 4) and guarded[1] == plain[1]  # ... long ones not
    data = tmp_path / "mine.csv"
    rows = [f"{t},porn" for t in PORN] + [f"{t},benign" for t in FINE]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["train", str(data), "--out", str(out), "--bits", "10", "--epochs", "40",
                 "--orders", "1,2,4", "--min-ngrams", "16"])  # fmt: skip
    assert code == 0
    model = load(out)
    assert model.orders == (1, 2, 4) and model.min_ngrams == 16
    old = fit(folding, PORN + FINE, ["porn"] * 4 + ["benign"] * 4,
              TrainConfig(bits=10, epochs=40, orders=(1, 2, 4)))  # fmt: skip
    short = BatchText.build(folding, ["黄色"])
    assert abs(model.predict(short)[0, 1] - 0.5) < abs(old.predict(short)[0, 1] - 0.5)
    meta = json.loads((out / "model.json").read_text("utf-8"))
    meta["min_ngrams"] = 0
    (out / "model.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelError, match="min_ngrams"):
        load(out)
    with pytest.raises(SystemExit):
        main(["train", str(data), "--out", str(out), "--orders", "0,9"])


def test_digit_class(tmp_path: Path, folding) -> None:  # type: ignore[no-untyped-def]
    from screener.model.features import batch_ngrams

    batch = BatchText.build(folding, ["加我13812345678", "加我19987654321"])
    plain = batch_ngrams(batch, (3,), 16)[0]
    folded = batch_ngrams(batch, (3,), 16, digit_class=True)[0]
    first, second = (np.split(p.buckets, [int(p.starts[1])]) for p in (plain, folded))
    assert set(first[0]) != set(first[1])  # different numbers, different n-grams ...
    assert set(second[0]) == set(second[1])  # ... unless every digit reads as 0
    cfg = TrainConfig(bits=10, epochs=5, digit_class=True)
    model = save(fit(folding, PORN + FINE, ["porn"] * 4 + ["benign"] * 4, cfg), tmp_path / "m")
    assert model.digit_class and load(tmp_path / "m").digit_class
    probs = model.predict(BatchText.build(folding, ["加我13812345678", "加我19987654321"]))
    assert probs[0] == pytest.approx(probs[1])
    from screener.cli import main

    data = tmp_path / "mine.csv"
    rows = [f"{t},porn" for t in PORN] + [f"{t},benign" for t in FINE]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = ["train", str(data), "--bits", "10", "--epochs", "3", "--out"]
    assert main([*args, str(tmp_path / "c"), "--digit-class", "--l2", "1e-5"]) == 0
    assert main([*args, str(tmp_path / "d")]) == 0
    assert load(tmp_path / "c").digit_class and load(tmp_path / "c").meta["l2"] == 1e-5
    assert not load(tmp_path / "d").digit_class
    meta = json.loads((tmp_path / "m" / "model.json").read_text("utf-8"))
    meta["digit_class"] = "yes"
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelError, match="digit_class"):
        load(tmp_path / "m")


def test_marks_see_what_folding_took_away(tmp_path: Path, folding) -> None:  # type: ignore[no-untyped-def]
    from screener.model.features import PLAIN, batch_ngrams, marks

    texts = ["加微信abc。", "加薇❤信ａ③約", "", "加 微信"]
    batch = BatchText.build(folding, texts)
    codes, starts = marks(batch)
    assert starts.tolist() == [0, 8, 16, 17]  # each text and its joiner
    pieces = [codes[a : a + len(t)].tolist() for a, t in zip(starts.tolist(), texts, strict=True)]
    assert pieces[0] == [PLAIN] * 7  # nothing disguised (punctuation is not): all the same
    # ａ, ③ and 約 fold to a, 3 and 约, ❤ is dropped: each keeps its own code (薇 stays 薇)
    assert pieces[1] == [PLAIN, PLAIN, ord("❤"), PLAIN] + [ord(c) for c in "ａ③約"]
    assert pieces[3] == [PLAIN] * 4
    assert codes[starts[1:] - 1].tolist() == [SEP] * 3  # messages never share an n-gram
    # the compact n-grams of the plain and disguised spellings agree; with marks they do not
    plain = batch_ngrams(batch, (2,), 16)
    marked = batch_ngrams(batch, (2,), 16, mark_orders=(1, 2))
    assert len(marked) == 3 and len(plain) == 1
    first, second = (set(np.split(p.buckets, [int(p.starts[1]), int(p.starts[2])])[k]) for
                     p in marked[1:2] for k in (0, 1))  # fmt: skip
    assert first != second
    cfg = TrainConfig(bits=10, epochs=5, mark_orders=(1, 2))
    model = save(fit(folding, PORN + FINE, ["porn"] * 4 + ["benign"] * 4, cfg), tmp_path / "m")
    assert load(tmp_path / "m").mark_orders == (1, 2)
    probs = model.predict(BatchText.build(folding, ["加微❤信", "加微信"]))
    assert not np.allclose(probs[0], probs[1])  # the disguise itself is evidence
    from screener.cli import main

    data = tmp_path / "mine.csv"
    rows = [f"{t},porn" for t in PORN] + [f"{t},benign" for t in FINE]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = ["train", str(data), "--bits", "10", "--epochs", "3", "--out"]
    assert main([*args, str(tmp_path / "c"), "--mark-orders", "1,2"]) == 0
    assert load(tmp_path / "c").mark_orders == (1, 2)
    meta = json.loads((tmp_path / "m" / "model.json").read_text("utf-8"))
    for bad in ([0], [7], "1,2", [True]):
        meta["mark_orders"] = bad
        (tmp_path / "m" / "model.json").write_text(json.dumps(meta), "utf-8")
        with pytest.raises(ModelError, match="mark_orders"):
            load(tmp_path / "m")


def test_sparse_mark_ngrams_are_the_listed_ones(tmp_path: Path, folding) -> None:  # type: ignore[no-untyped-def]
    """Inference counts the all-PLAIN mark n-grams; the sums must equal listing every one."""
    from screener.model.features import batch_ngrams, scale

    texts = [
        "加微信abc。",
        "加薇❤信ａ③約",
        "",
        "x",
        "❤",
        "普通的一句话，没有伪装",
        "加 V 信 ⑩",
        "a\nb",
    ]
    batch = BatchText.build(folding, texts)
    for order in (1, 2, 3):
        full = batch_ngrams(batch, (), 12, mark_orders=(order,))[0]
        sparse = batch_ngrams(batch, (), 12, mark_orders=(order,), sparse=True)[0]
        assert sparse.plain_counts is not None
        for i in range(len(texts)):
            want = sorted(full.buckets[full.starts[i] : full.starts[i + 1]].tolist())
            listed = sparse.buckets[sparse.starts[i] : sparse.starts[i + 1]].tolist()
            got = sorted(listed + [sparse.plain_bucket] * int(sparse.plain_counts[i]))
            assert got == want, (order, texts[i])
        assert np.array_equal(scale([full], 8), scale([sparse], 8))
    cfg = TrainConfig(bits=10, epochs=3, mark_orders=(1, 2))
    model = fit(folding, PORN + FINE, ["porn"] * 4 + ["benign"] * 4, cfg)
    parts = batch_ngrams(batch, model.orders, model.bits, False, model.mark_orders)
    from screener.model.features import segment_sums

    total = sum(segment_sums(model.weights[p.buckets], p.starts) for p in parts)
    want = total * scale(parts, model.min_ngrams)[:, None] + model.bias
    assert np.allclose(model.logits(batch), want, atol=1e-5)
