"""Read a running screener's Prometheus endpoint: counters, lag and latency histogram.

The load test uses it when it is there and never needs it: its own numbers come from Kafka.
Names are matched by prefix so that renames of label sets or suffixes (`_total`, `_records`)
do not break it.
"""

from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

CONSUMED = "screener_events_consumed"
FLAGGED = ("screener_events_flagged", "screener_flagged")
LAG = "screener_consumer_lag"
LATENCY = "screener_end_to_end_latency_seconds"


@dataclass
class Snapshot:
    at: float
    consumed: float = 0.0
    flagged: float = 0.0
    lag: float | None = None
    buckets: dict[float, float] = field(default_factory=dict)
    """Cumulative counts of the end-to-end latency histogram by upper bound (`le`)."""


def parse(text: str, at: float) -> Snapshot:
    snap = Snapshot(at)
    for family in text_string_to_metric_families(text):
        name = family.name
        for sample in family.samples:
            if name.startswith(CONSUMED) and sample.name.endswith("_total"):
                snap.consumed += sample.value
            elif name.startswith(FLAGGED) and sample.name.endswith("_total"):
                snap.flagged += sample.value
            elif name.startswith(LAG):
                snap.lag = (snap.lag or 0.0) + sample.value
            elif name == LATENCY and sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                snap.buckets[bound] = snap.buckets.get(bound, 0.0) + sample.value
    return snap


def _get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode("utf-8", "replace")


async def scrape(urls: list[str], timeout: float = 2.0) -> Snapshot | None:
    """One snapshot summed over `urls`; None if any is unreachable or not Prometheus text."""
    if not urls:
        return None
    total = Snapshot(time.monotonic())
    for url in urls:
        try:
            text = await asyncio.to_thread(_get, url, timeout)
            snap = parse(text, total.at)
        except (OSError, ValueError):
            return None
        total.consumed += snap.consumed
        total.flagged += snap.flagged
        if snap.lag is not None:
            total.lag = (total.lag or 0.0) + snap.lag
        for bound, count in snap.buckets.items():
            total.buckets[bound] = total.buckets.get(bound, 0.0) + count
    return total


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Quantile (seconds) of what the histogram observed between two snapshots, interpolating
    linearly inside a bucket as Prometheus' `histogram_quantile` does."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower
