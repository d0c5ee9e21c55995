"""How a load test reads: a terminal table, and a PNG chart of throughput, latency and lag."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(report: dict[str, Any]) -> Group:
    steps = Table(title=f"screener loadtest — {report['source']}")
    for col in ("target/s", "sent", "achieved/s", "processed/s", "lag end", "lag max",
                "p50 ms", "p95 ms", "p99 ms", "flagged", "drain s", "ok"):  # fmt: skip
        steps.add_column(col, justify="right")
    notes: list[str] = []
    for s in report["steps"]:
        lat = s["latency_ms"]
        steps.add_row(
            f"{s['target_rate']:,.0f}", f"{s['sent']:,}", f"{s['achieved_rate']:,.0f}",
            f"{s['processed_rate']:,.0f}", f"{s['lag_end']:,}", f"{s['lag_max']:,}",
            _ms(lat.get("p50")), _ms(lat.get("p95")), _ms(lat.get("p99")), f"{s['flagged']:,}",
            "-" if s["drain_seconds"] is None else f"{s['drain_seconds']:.1f}",
            "[green]yes" if s["sustainable"] else "[red]no",
        )  # fmt: skip
        if s["reasons"]:
            notes.append(f"step {s['target_rate']:,.0f}/s: " + "; ".join(s["reasons"]))
    parts: list[Any] = [steps, *(Text(n, style="red") for n in notes)]
    best = report["max_sustainable_rate"]
    parts.append(Text.from_markup(
        f"max sustainable throughput: [bold]{best:,.0f} msg/s[/] "
        f"(step {report['max_sustainable_step']:,.0f}/s)" if best is not None
        else "max sustainable throughput: [red]no step was sustainable[/]"
    ))  # fmt: skip
    with_metrics = [s for s in report["steps"] if s.get("metrics")]
    if with_metrics:
        m = Table(title="service metrics (Prometheus) per step")
        for col in ("target/s", "consumed/s", "flagged", "lag end", "p50 ms", "p95 ms", "p99 ms"):
            m.add_column(col, justify="right")
        for s in with_metrics:
            x = s["metrics"]
            lat = x["latency_ms"]
            lag = "-" if x["lag_end"] is None else f"{x['lag_end']:,.0f}"
            m.add_row(f"{s['target_rate']:,.0f}", f"{x['consumed_rate']:,.0f}",
                      f"{x['flagged']:,.0f}", lag, _ms(lat["p50"]), _ms(lat["p95"]),
                      _ms(lat["p99"]))  # fmt: skip
        parts.append(m)
    det = report["detection"]
    if det.get("labelled"):
        d = Table(title="detection on labelled traffic (review topic vs labels)")
        for col in ("category", "positives", "flagged", "recall", "recall (same category)"):
            d.add_column(col, justify="right")
        for cat, c in det["by_category"].items():
            d.add_row(cat, f"{c['positives']:,}", f"{c['flagged']:,}", f"{c['recall']:.1%}",
                      f"{c['recall_exact']:.1%}")  # fmt: skip
        if det["recall"] is not None:
            d.add_row("[bold]all", f"{det['positives']:,}", f"{det['flagged_positives']:,}",
                      f"[bold]{det['recall']:.1%}", f"{det['recall_exact']:.1%}")  # fmt: skip
        if det["false_positive_rate"] is not None:
            d.add_row(
                "benign (false positives)",
                f"{det['benign']:,}",
                f"{det['false_positives']:,}",
                f"FPR {det['false_positive_rate']:.2%}",
                "",
            )
        parts.append(d)
    return Group(*parts)


def png(report: dict[str, Any], path: Path) -> None:
    """Four panels: rates per step, latency per step, and rates and lag over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    steps = report["steps"]
    x = [s["target_rate"] for s in steps]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    ax = axes[0][0]
    ax.plot(x, x, "k--", lw=1, label="target")
    ax.plot(x, [s["achieved_rate"] for s in steps], "o-", label="produced")
    ax.plot(x, [s["processed_rate"] for s in steps], "s-", label="processed (committed)")
    for s in steps:
        if not s["sustainable"]:
            ax.axvline(s["target_rate"], color="red", alpha=0.25, lw=6)
    if report["max_sustainable_rate"] is not None:
        ax.axhline(
            report["max_sustainable_rate"],
            color="green",
            ls=":",
            label=f"max sustainable {report['max_sustainable_rate']:,.0f}/s",
        )
    ax.set(title="throughput per step", xlabel="target msg/s", ylabel="msg/s")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        ys = [s["latency_ms"].get(key) for s in steps]
        pts = [(a, b) for a, b in zip(x, ys, strict=True) if b is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), style, label=key)
    ax.set(title="end-to-end latency of flagged events", xlabel="target msg/s", ylabel="ms")
    if any(s["latency_ms"].get("p50") for s in steps):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.legend(fontsize=8)
    timeline = report["timeline"]
    ts = [p["t"] for p in timeline]
    ax = axes[1][0]
    if len(timeline) > 1:
        rate_t = ts[1:]
        pairs = list(itertools.pairwise(timeline))
        dt = [max(b["t"] - a["t"], 1e-9) for a, b in pairs]
        sent = [(b["sent"] - a["sent"]) / d for (a, b), d in zip(pairs, dt, strict=True)]
        done = [(b["consumed"] - a["consumed"]) / d for (a, b), d in zip(pairs, dt, strict=True)]
        ax.plot(rate_t, sent, label="produced/s")
        ax.plot(rate_t, done, label="committed/s")
        ax.legend(fontsize=8)
    ax.set(title="rates over time", xlabel="seconds", ylabel="msg/s")
    ax = axes[1][1]
    ax.plot(ts, [p["lag"] for p in timeline], color="tab:red")
    ax.set(title="consumer lag over time", xlabel="seconds", ylabel="records")
    det = report["detection"]
    recall = det.get("recall")
    fig.suptitle(
        "screener loadtest — max sustainable "
        + (f"{report['max_sustainable_rate']:,.0f} msg/s" if report["max_sustainable_rate"]
           else "n/a")
        + (f", recall {recall:.1%}" if recall is not None else "")
    )  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
