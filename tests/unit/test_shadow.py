"""Shadow rules: evaluated and recorded, never acting (engine, records, metrics, examples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from screener.engine import Engine
from screener.events import text_event
from screener.metrics import Metrics
from screener.pipeline.records import audit_item, review_item
from screener.pipeline.settings import Settings
from screener.pipeline.transform import screen_records
from screener.rules import load_packs
from screener.rules.examples import run_examples

PACK = """
lexicons:
  services: {terms: [约炮, 包夜]}
  contact: {terms: [加微信]}
rules:
  - id: enforced
    category: solicitation
    score: 6
    condition: hit(services)
  - id: watch.contact
    category: solicitation
    score: 9
    action: block
    mode: shadow
    condition: hit(contact)
    examples: {match: ["加微信"], no_match: ["你好"]}
"""


def _pack(tmp_path: Path, text: str = PACK, name: str = "p.yaml") -> Engine:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return Engine(load_packs([tmp_path]))


def test_a_shadow_rule_is_recorded_beside_the_verdict_it_does_not_change(tmp_path: Path) -> None:
    engine = _pack(tmp_path)
    both, shadow_only, clean = engine.screen_texts(["约炮加微信", "加微信", "你好"])
    assert both.action == "review" and both.score == 6  # block/9 of the shadow rule: not applied
    assert [f.rule for f in both.findings] == ["enforced"]
    assert [f.rule for f in both.shadow] == ["watch.contact"]
    assert both.shadow[0].matches[0].text == "加微信"
    assert shadow_only.action == "allow" and not shadow_only.flagged
    assert not shadow_only.findings and [f.rule for f in shadow_only.shadow] == ["watch.contact"]
    assert clean.shadow == () and "shadow" not in clean.to_dict()
    assert both.to_dict()["shadow"][0]["rule"] == "watch.contact"


def test_mode_shadow_on_a_file_covers_its_rules_and_a_rule_can_opt_out(tmp_path: Path) -> None:
    text = PACK.replace("    mode: shadow\n", "").replace("rules:", "mode: shadow\nrules:")
    text = text.replace("    score: 6\n", "    score: 6\n    mode: enforce\n")
    engine = _pack(tmp_path, text)
    (v,) = engine.screen_texts(["约炮加微信"])
    assert [f.rule for f in v.findings] == ["enforced"]
    assert [f.rule for f in v.shadow] == ["watch.contact"]
    enforced = _pack(tmp_path, PACK.replace("    mode: shadow\n", ""))
    assert enforced.pack.version != engine.pack.version  # the mode is part of the version


def test_review_items_leave_shadow_findings_out_and_audit_verdicts_keep_them(
    tmp_path: Path,
) -> None:  # fmt: skip
    engine = _pack(tmp_path)
    (v,) = engine.screen_texts(["约炮加微信"])
    review = orjson.loads(review_item(v, b'{"id": "0"}', "review").value)
    assert "shadow" not in review and [f["rule"] for f in review["findings"]] == ["enforced"]
    audit = orjson.loads(audit_item(v, "verdicts").value)
    assert [f["rule"] for f in audit["shadow"]] == ["watch.contact"]


class _Record:
    def __init__(self, offset: int, value: bytes):
        self.topic, self.partition, self.offset, self.value = "in", 0, offset, value
        self.key, self.headers, self.timestamp = b"u", (), 1_700_000_000_000


def test_a_batch_counts_shadow_hits_and_sends_no_review_item_for_them(tmp_path: Path) -> None:
    engine = _pack(tmp_path)
    settings = Settings(review_topic="review", verdicts_topic="verdicts")
    texts = ["加微信", "加微信 约炮", "你好"]
    records = [
        _Record(i, orjson.dumps({"kind": "chat", "id": f"e{i}", "ts": 0, "user": {"id": "u"},
                                 "text": t}))
        for i, t in enumerate(texts)
    ]  # fmt: skip
    screened = screen_records(engine, records, settings)  # type: ignore[arg-type]
    reviewed = [orjson.loads(o.value) for o in screened.outgoing if o.topic == "review"]
    assert [r["event_id"] for r in reviewed] == ["e1"]  # not e0: its only hit is a shadow rule
    audits = [orjson.loads(o.value) for o in screened.outgoing if o.topic == "verdicts"]
    assert [bool(a.get("shadow")) for a in audits] == [True, True, False]
    metrics = Metrics.for_settings(settings)
    screened.report.screen_seconds, screened.report.acked_at = 0.001, 1_700_000_000.0
    metrics.batch_finished(screened.report)
    metrics.flush()
    r = metrics.registry
    assert r.get_sample_value("screener_shadow_hits_total", {"rule": "watch.contact"}) == 2
    assert r.get_sample_value("screener_rule_hits_total", {"rule": "watch.contact"}) is None
    assert r.get_sample_value("screener_rule_hits_total", {"rule": "enforced"}) == 1


def test_rules_test_runs_a_shadow_rules_examples(tmp_path: Path) -> None:
    engine = _pack(tmp_path)
    results = [r for r in run_examples(engine.pack) if r.rule == "watch.contact"]
    assert len(results) == 2 and all(r.ok for r in results)


def test_screening_without_shadow_rules_is_unchanged(tmp_path: Path) -> None:
    engine = _pack(tmp_path, PACK.replace("    mode: shadow\n", ""))
    (v,) = engine.screen([text_event("约炮加微信", "x")])
    assert v.action == "block" and v.shadow == ()


def test_shadow_impact_counts_what_enforcing_would_add(tmp_path: Path) -> None:
    from screener.measure.shadow_eval import enforced, shadow_impact

    engine = _pack(tmp_path)
    texts = ["加微信 看片", "加微信", "你好", "约炮"]
    harmful = [True, False, False, True]
    impact = shadow_impact(engine.pack, texts, harmful)
    assert impact.rules == ("watch.contact",)
    assert impact.fired["watch.contact"] == 2
    assert impact.new_flags["watch.contact", True] == 1  # 加微信 看片: allowed as is
    assert impact.new_flags["watch.contact", False] == 1
    assert (
        impact.changed["allow", "block", True] == 1 and impact.changed["allow", "block", False] == 1
    )
    assert "| watch.contact | 2 | 1 | 1 |" in impact.render()
    assert not any(r.shadow for r in enforced(engine.pack).rules)
    assert any(r.shadow for r in engine.pack.rules)  # the pack itself is untouched


def test_eval_shadow_reports_what_the_shadow_rules_would_change(
    tmp_path: Path, capsys: Any
) -> None:  # fmt: skip
    from screener.measure import evaluate

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.yaml").write_text(PACK, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "chineseharm_tiny.tsv").write_text(
        "label\ttext\nillicit_ads\t兼职刷单加微信\nfine\t加微信聊聊工作\nfine\t今天天气不错\n"
        "porn\t约炮\n", encoding="utf-8",
    )  # fmt: skip
    code = evaluate.main(["--rules", str(rules), "--data", str(data), "--part", "all",
                          "--shadow", "--headline-only"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "With the shadow rules enforced" in out
    assert "| watch.contact | 2 | 1 | 1 |" in out  # fired twice: one harmful, one benign added
    assert "| allow → block | 1 | 1 |" in out
