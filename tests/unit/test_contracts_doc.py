"""docs/contracts.md and the code agree: every metric the service exposes is in its table (and
nothing else is), and the DLQ reason classes are the ones the code writes."""

from __future__ import annotations

import re
from pathlib import Path

from screener.metrics import DLQ_REASONS, Metrics, WorkerPoolMetrics
from screener.pipeline.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def _exposed() -> set[str]:
    """Metric names as exposed (counters with `_total`), from real registries."""
    names = set()
    pool = WorkerPoolMetrics(1)
    try:
        for registry in (Metrics.for_settings(Settings()).registry, pool.registry):
            for metric in registry.collect():
                if metric.name.startswith("screener_"):
                    names.add(metric.name + ("_total" if metric.type == "counter" else ""))
    finally:
        pool.close()
    return names


def test_the_metrics_table_lists_exactly_what_is_exposed() -> None:
    section = DOC.read_text(encoding="utf-8").split("## Metrics", 1)[1]
    documented = set(re.findall(r"^\| `(screener_[a-z_]+)` \|", section, re.M))
    assert len(documented) > 20
    assert documented == _exposed()


def test_the_dlq_reason_classes_are_the_codes() -> None:
    section = DOC.read_text(encoding="utf-8").split("## DLQ record", 1)[1].split("## CLI")[0]
    line = next(line for line in section.splitlines() if line.startswith("Reason classes"))
    rest = section[section.index(line) :].split("Nothing is dropped")[0]
    assert set(re.findall(r"`([a-z0-9_]+)`", rest)) == set(DLQ_REASONS)
