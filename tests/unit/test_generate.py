"""`screener generate`: same seed, same bytes; labels that mean what they say."""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from pathlib import Path

import orjson
import pytest

from screener.cli import default_packs, main
from screener.engine import Engine
from screener.events import ChatEvent, MicroblogEvent, parse_event
from screener.rules import load_packs
from screener.synthetic import evasion
from screener.synthetic.generate import (
    BENIGN,
    EVASIONS_HEADER,
    LABEL_HEADER,
    GenConfig,
    Generated,
    Generator,
    generate,
    parse_mix,
)
from screener.synthetic.texts import CATEGORIES, DEFAULT_MIX
from screener.traffic.recording import read_recording


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def run(name: str, seed: int, suffix: str) -> bytes:
        out = tmp_path / f"{name}{suffix}"
        assert main(["generate", "--count", "3000", "--seed", str(seed), "--out", str(out),
                     "--burst-every", "500", "--burst-size", "50"]) == 0  # fmt: skip
        return out.read_bytes()

    for suffix in (".jsonl", ".screc"):
        first, again, other = run("a", 7, suffix), run("b", 7, suffix), run("c", 8, suffix)
        assert first == again
        assert first != other
    assert len(run("d", 7, ".jsonl").splitlines()) == 3000


def test_jsonl_label_field_matches_the_recording_header(tmp_path: Path) -> None:
    jsonl, rec = tmp_path / "g.jsonl", tmp_path / "g.screc"
    for out in (jsonl, rec):
        assert main(["generate", "--count", "2000", "--seed", "3", "--out", str(out)]) == 0
    lines = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    records = list(read_recording(rec))
    assert len(lines) == len(records) == 2000
    for line, record in zip(lines, records, strict=True):
        headers = dict(record.headers)
        assert headers[LABEL_HEADER].decode() == line.pop("_label")
        assert orjson.loads(record.value or b"") == line
        assert record.key == line["user"]["id"].encode()
        assert record.topic == ("chat.events" if line["kind"] == "chat" else "microblog.events")
        assert record.timestamp == line["ts"]


@pytest.fixture(scope="module")
def stream() -> list[Generated]:
    return list(generate(GenConfig(seed=11, violation_rate=0.2, burst_every=4000,
                                   burst_size=300), 20_000))  # fmt: skip


def test_every_event_is_valid_and_carries_a_known_label(stream: list[Generated]) -> None:
    kinds = Counter()
    for item in stream:
        event = parse_event(item.value)
        assert isinstance(event, ChatEvent | MicroblogEvent), event
        assert event.id == item.event_id and event.ts == item.ts
        assert item.key == event.user.id.encode()
        assert item.label == BENIGN or item.label in CATEGORIES
        assert dict(item.headers())[LABEL_HEADER] == item.label.encode()
        for media in event.media:
            assert media.pdq is not None and len(media.pdq) == 64
        kinds[event.kind] += 1
    assert 0.2 < kinds["microblog"] / len(stream) < 0.45  # 30% plus bursts
    assert [i.ts for i in stream] == sorted(i.ts for i in stream)


def test_shares_follow_the_configuration() -> None:
    config = GenConfig(seed=5, violation_rate=0.1, burst_every=0)
    labels = Counter(i.label for i in generate(config, 30_000))
    violating = sum(v for k, v in labels.items() if k != BENIGN)
    assert abs(violating / 30_000 - 0.1) < 0.01  # binomial sd is 0.0017
    total = sum(DEFAULT_MIX.values())
    for category, weight in DEFAULT_MIX.items():
        assert abs(labels[category] / violating - weight / total) < 0.03, category
    only = Counter(i.label for i in generate(GenConfig(seed=5, mix=parse_mix("gambling")), 3000))
    assert set(only) <= {BENIGN, "gambling"} and only["gambling"] > 0


def test_users_and_conversations_are_zipf_skewed(stream: list[Generated]) -> None:
    users = Counter(i.key for i in stream if i.label == BENIGN)
    top = sum(c for _, c in users.most_common(100))
    assert top / sum(users.values()) > 0.3  # 100 of 100,000 accounts carry a third
    convs = Counter(orjson.loads(i.value)["conversation"]["id"] for i in stream if i.kind == "chat")
    assert convs.most_common(1)[0][1] > 20 * (sum(convs.values()) / len(convs))


def test_bursts_are_one_spammer_flooding_known_bad_images(stream: list[Generated]) -> None:
    gen = Generator(GenConfig(seed=11))
    bank = gen.bad_bank
    burst = [i for i in stream if "image_burst" in i.evasions]
    assert len(burst) >= 300
    assert all(i.label == "porn" and i.kind == "microblog" for i in burst)
    spammers = Counter(i.key for i in burst)
    assert spammers.most_common(1)[0][1] >= 300
    for item in burst[:50]:
        for media in orjson.loads(item.value)["media"]:
            pdq = int(media["pdq"], 16)
            assert min(bin(pdq ^ b).count("1") for b in bank) <= 16  # a near-duplicate


def test_labels_agree_with_the_shipped_rules(stream: list[Generated]) -> None:
    """Violations are what the rules look for (most are found, through the evasions), and
    benign traffic is mostly left alone: the labels are consistent with the categories."""
    engine = Engine(load_packs([default_packs()]))
    texts = [i for i in stream if "image_burst" not in i.evasions]
    verdicts = engine.screen([parse_event(i.value) for i in texts])  # type: ignore[misc]
    positives = Counter(i.label for i in texts if i.label != BENIGN)
    found: Counter[str] = Counter()
    benign = flagged_benign = 0
    for item, verdict in zip(texts, verdicts, strict=True):
        if item.label == BENIGN:
            benign += 1
            flagged_benign += verdict.flagged
        elif verdict.flagged:
            found[item.label] += 1
    for category, count in positives.items():
        assert found[category] / count > 0.8, (category, found[category], count)
    assert sum(found.values()) / sum(positives.values()) > 0.9
    assert flagged_benign / benign < 0.01
    evaded = [i for i in texts if i.label != BENIGN and i.evasions]
    assert len(evaded) > 0.5 * sum(positives.values())
    assert all(EVASIONS_HEADER in dict(i.headers()) for i in evaded)
    assert {e for i in evaded for e in i.evasions} == set(evasion.ALL_EVASIONS)


def test_evasions_disguise_but_keep_the_message() -> None:
    rng = random.Random(1)
    assert evasion.zero_width("约炮", rng).replace("\u200b", "").replace("\u200c", "") \
        .replace("\u200d", "").replace("\u2060", "").replace("\ufeff", "") == "约炮"  # fmt: skip
    assert unicodedata.normalize("NFKC", evasion.fullwidth("qq 123")) == "qq 123"
    assert evasion.fullwidth("vx") == "ｖｘ"
    assert evasion.keycap_digits("188", rng) == "1\u20e38\u20e38\u20e3"
    assert evasion.circled_digits("188", rng) == "①⑧⑧"
    assert evasion.chinese_digits("188", random.Random(0)) in ("壹捌捌", "一八八")
    assert evasion.traditional("约炮 给钱") == "約炮 給錢"
    assert evasion.homophone("加微信", rng) in evasion.HOMOPHONES["加微信"]
    assert evasion.circled_letters("qq", rng) == "ⓠⓠ"
    text, used = evasion.apply("同城[[约炮]]，[[加微信]]13812345678", random.Random(3), 3)
    assert used and text != "同城约炮，加微信13812345678"
    assert "[[" not in text
    assert evasion.apply("no markup, no digits", random.Random(3)) == ("no markup, no digits", [])


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        GenConfig(mix={"weather": 1.0})
    with pytest.raises(ValueError, match="unknown category"):
        parse_mix("porn=1,weather=2")
    with pytest.raises(ValueError):
        GenConfig(violation_rate=1.5)
