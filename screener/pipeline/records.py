"""What the service writes: review items, DLQ records and audit verdicts (docs/contracts.md)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from screener.verdict import Verdict

Headers = list[tuple[str, bytes]]


@dataclass(slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    source: tuple[str, int, int] | None = None
    """(topic, partition, offset) of the input record a review item is for: its DLQ form
    names it if the item cannot be produced."""
    partition: int | None = None
    """None: the producer's partitioner picks by key."""


@dataclass(slots=True)
class Placed:
    """Records for one partition, in order: a changelog partition's share of a batch (partition
    p of the input → partition p of its changelog). Kept as the state's (key, value) pairs, no
    object per record: delivery produces them as record batches (`kafka.send_batches`), and
    they are most of a stateful batch's output (~30 records per review item)."""

    topic: str
    partition: int
    records: list[tuple[bytes, bytes | None]]
    """(key, value); value None: a tombstone (a state key dropped)"""


def review_item(verdict: Verdict, raw_event: bytes, topic: str) -> Outgoing:
    """Verdict plus the original event, keyed by event id (a replayed duplicate is visible).
    Shadow findings stay off the review topic: a shadow rule must not reach moderators."""
    body = verdict.to_dict(shadow=False)
    body["event"] = orjson.Fragment(raw_event)
    headers: Headers = [("screener-rules-version", verdict.rules_version.encode())]
    if verdict.category is not None:
        headers.append(("screener-category", verdict.category.encode()))
    key = verdict.event_id.encode() if verdict.event_id is not None else None
    return Outgoing(topic, key, orjson.dumps(body), headers)


def audit_item(verdict: Verdict, topic: str) -> Outgoing:
    key = verdict.event_id.encode() if verdict.event_id is not None else None
    headers: Headers = [("screener-rules-version", verdict.rules_version.encode())]
    return Outgoing(topic, key, verdict.to_json(), headers)


def dlq_item(
    topic: str, key: bytes | None, value: bytes | None, error: str,
    source_topic: str, partition: int, offset: int, headers: Headers,
) -> Outgoing:  # fmt: skip
    """The record unchanged (same key, value and headers) plus where it came from and why."""
    extra: Headers = [
        ("screener-error", error.encode()[:1000]),
        ("screener-source-topic", source_topic.encode()),
        ("screener-source-partition", str(partition).encode()),
        ("screener-source-offset", str(offset).encode()),
    ]
    return Outgoing(topic, key, value if value is not None else b"", [*headers, *extra])
