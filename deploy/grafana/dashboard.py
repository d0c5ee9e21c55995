#!/usr/bin/env python3
"""Generate the Grafana dashboard for screener: `deploy/grafana/dashboards/screener.json`.

    python deploy/grafana/dashboard.py           # (re)write the JSON
    python deploy/grafana/dashboard.py --check   # exit 1 if the JSON is not what this makes

The panels are data here (title, queries, unit), so every query is in one place and the
integration test can run each of them against a real Prometheus. Standard library only.
Queries filter on the `$job` variable (all jobs by default) and use Grafana's
`$__rate_interval` / `$__range`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "screener.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
R = "[$__rate_interval]"


def _q(metric: str, extra: str = "") -> str:
    """`metric{job=~"$job", extra}`."""
    return f'{metric}{{job=~"$job"{", " + extra if extra else ""}}}'


def _quantiles(metric: str, qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> list[tuple[str, str]]:
    buckets = _q(metric + "_bucket")
    rate = f"sum by (le) (rate({buckets}{R}))"
    return [(f"histogram_quantile({q}, {rate})", f"p{q * 100:g}") for q in qs]


@dataclass
class Panel:
    title: str
    targets: list[tuple[str, str]]
    """(PromQL, legend)."""
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    instant: bool = False
    width: int = 8
    height: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    thresholds: list[tuple[float, str]] = field(default_factory=list)


ROWS: list[tuple[str, list[Panel]]] = [
    ("Throughput", [
        Panel("Events in, by topic", [
            (f"sum by (topic) (rate({_q('screener_events_consumed_total')}{R}))", "{{topic}}"),
        ], unit="ops", description="Input records read per second."),
        Panel("Events out, by output", [
            (f"sum by (output) (rate({_q('screener_produced_records_total')}{R}))", "{{output}}"),
        ], unit="ops", description="Review, DLQ and audit records acknowledged per second."),
        Panel("Events in, by kind", [
            (f"sum by (kind) (rate({_q('screener_events_consumed_total')}{R}))", "{{kind}}"),
        ], unit="ops", description="chat, microblog, or invalid (not an event: sent to the DLQ)."),
    ]),
    ("Flags", [
        Panel("Flag rate by category", [
            (f"sum by (category) (rate({_q('screener_events_flagged_total')}{R}))", "{{category}}"),
        ], unit="ops"),
        Panel("Flagged share of input", [
            (f"sum(rate({_q('screener_events_flagged_total')}{R})) / "
             f"sum(rate({_q('screener_events_consumed_total')}{R}))", "flagged"),
            (f"sum by (action) (rate({_q('screener_events_flagged_total')}{R})) / ignoring(action) "
             f"group_left sum(rate({_q('screener_events_consumed_total')}{R}))", "{{action}}"),
        ], unit="percentunit"),
        Panel("Top rules (hits in the time range)", [
            (f"topk(10, sum by (rule) (increase({_q('screener_rule_hits_total')}[$__range])))",
             "{{rule}}"),
        ], kind="bargauge", instant=True,
            options={"orientation": "horizontal", "displayMode": "gradient"}),
        Panel("DLQ records by reason", [
            (f"sum by (reason) (rate({_q('screener_dlq_records_total')}{R}))", "{{reason}}"),
        ], unit="ops", description="Records that are not valid events, by reason class."),
    ]),
    ("Latency", [
        Panel("Screening time per batch", _quantiles("screener_batch_screening_seconds"),
              unit="s"),
        Panel("Screening time per event", _quantiles("screener_event_screening_seconds"),
              unit="s", description="Batch screening time divided by the batch size."),
        Panel("End-to-end latency (record timestamp → output acked)",
              _quantiles("screener_end_to_end_latency_seconds"), unit="s",
              thresholds=[(2.0, "red")], description="SLO: p99 ≤ 2 s (alert "
              "ScreenerEndToEndLatencyHigh)."),
        Panel("Batch size", [
            (f"sum(rate({_q('screener_batch_size_records_sum')}{R})) / "
             f"sum(rate({_q('screener_batch_size_records_count')}{R}))", "mean"),
            *_quantiles("screener_batch_size_records", (0.9,)),
        ], unit="short"),
    ]),
    ("Kafka", [
        Panel("Consumer lag per partition", [
            (f"sum by (topic, partition) ({_q('screener_consumer_lag_records')})",
             "{{topic}}/{{partition}}"),
        ], unit="short", description="High-water mark minus position, per input partition."),
        Panel("In-flight records", [
            (f"sum({_q('screener_inflight_records')})", "in flight"),
        ]),
        Panel("Commits", [
            (f"sum(rate({_q('screener_commits_total')}{R}))", "commits"),
            (f"sum(rate({_q('screener_commit_failures_total')}{R}))", "failures"),
        ], unit="ops"),
        Panel("Produce errors and retries", [
            (f"sum by (output) (rate({_q('screener_produce_errors_total')}{R}))",
             "errors {{output}}"),
            (f"sum(rate({_q('screener_produce_retries_total')}{R}))", "retry rounds"),
        ], unit="ops"),
        Panel("Rebalances", [
            (f"sum(increase({_q('screener_rebalances_total')}{R}))", "assignments"),
        ]),
    ]),
    ("Workers and rules", [
        Panel("Workers", [
            (f"sum({_q('screener_worker_up')})", "running"),
            (f"sum({_q('screener_consumer_connected')})", "connected"),
            (f"sum({_q('screener_worker_ready')})", "ready"),
        ]),
        Panel("Assigned partitions per worker", [
            (f"sum by (instance, worker) ({_q('screener_assigned_partitions')})",
             "{{instance}} #{{worker}}"),
        ]),
        Panel("Worker restarts (time range)", [
            (f"sum(increase({_q('screener_worker_restarts_total')}[$__range]))", "restarts"),
        ], kind="stat", instant=True, thresholds=[(1, "orange")]),
        Panel("Rules version in use", [
            (f"count by (version) ({_q('screener_rules_info')} == 1)", "{{version}}"),
        ], kind="table", instant=True, description="Workers per rule pack version: more "
              "than one row means a reload is rolling out (or failed somewhere)."),
        Panel("Rules version per worker", [
            (f"max by (instance, worker, version) ({_q('screener_rules_info')} == 1)",
             "{{instance}} #{{worker}} {{version}}"),
        ], kind="table", instant=True, description="The pack each worker screens with (hot "
              "reload, SIGHUP or the Kafka rules topic change it without a restart)."),
        Panel("Rules loaded", [
            (f"max({_q('screener_rules_loaded_timestamp_seconds')}) * 1000", "loaded"),
        ], kind="stat", unit="dateTimeFromNow", instant=True),
        Panel("Rule reloads by result (time range)", [
            (f"sum by (result) (increase({_q('screener_rules_reloads_total')}[$__range]))",
             "{{result}}"),
        ], kind="stat", instant=True, thresholds=[(1, "red")]),
        Panel("Shadow rule hits", [
            (f"sum by (rule) (rate({_q('screener_shadow_hits_total')}{R})) or vector(0)",
             "{{rule}}"),
        ], unit="ops", description="Hits per second of `mode: shadow` rules: recorded on the "
              "audit verdicts, never acted on (0 when the pack has none)."),
    ]),
]  # fmt: skip


def _panel(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in panel.thresholds]
    out: dict[str, Any] = {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": panel.options,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                "instant": panel.instant,
                "range": not panel.instant,
                **({"format": "table"} if panel.kind == "table" else {}),
            }
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    if panel.kind == "timeseries" and panel.thresholds:
        out["fieldConfig"]["defaults"]["custom"] = {"thresholdsStyle": {"mode": "line"}}
    return out


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid = 1
    y = 0
    for title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})  # fmt: skip
        pid += 1
        y += 1
        x = 0
        for panel in row:
            if x + panel.width > 24:
                x, y = 0, y + panel.height
            panels.append(_panel(panel, pid, x, y))
            pid += 1
            x += panel.width
        y += max(p.height for p in row)
    return {
        "uid": "screener",
        "title": "screener",
        "description": "Streaming message screening: throughput, flags, rules, DLQ, latency, "
        "Kafka lag, workers. Generated by deploy/grafana/dashboard.py.",
        "tags": ["screener", "kafka", "moderation"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(screener_worker_up, job)", "refId": "job"},
                    "definition": "label_values(screener_worker_up, job)",
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".+",
                    "current": {"text": "All", "value": "$__all"},
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
