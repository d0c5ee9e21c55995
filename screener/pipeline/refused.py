"""Output that cannot be produced goes to the DLQ in a form that fits (never a stuck partition).

A review item carries the whole event plus every match, so a flagged event under the 1 MB
input limit can make an item over the broker's `message.max.bytes` (Kafka's default is
1 MiB). Retrying such a record never succeeds and its partition would never commit again. So
an item over `max_output_bytes` (checked before producing, identically for both delivery
guarantees) — or one the broker refuses for good at run time — is replaced by a DLQ record:

    key     the event id (as the review item's)
    headers screener-error "output_refused: <why>", screener-source-topic/-partition/-offset,
            screener-rules-version, screener-category
    value   {"refused": {"topic", "bytes", "reason"}, "source": {"topic", "partition", "offset"},
             "verdict": {…the verdict, matches cut to MATCHES_KEPT per finding…},
             "event": {"truncated": true, "bytes": <original size>, "head": <first HEAD_CHARS>}}

which stays under `DLQ_FORM_BYTES` whatever the event was.
"""

from __future__ import annotations

from typing import Any

import orjson

from screener.observe import OUTPUT_REFUSED  # the `screener-error` prefix, a DLQ label
from screener.pipeline.records import Headers, Outgoing

HEAD_CHARS = 16_384
MATCHES_KEPT = 20
DLQ_FORM_BYTES = 64 * 1024
"""upper bound of the DLQ form; far below any broker's limit."""


def record_bytes(item: Outgoing) -> int:
    """What the record weighs on the wire before compression (value, key, headers)."""
    size = len(item.value or b"") + len(item.key or b"")
    return size + sum(len(k) + len(v) for k, v in item.headers)


def refused_item(
    item: Outgoing, reason: str, dlq_topic: str, source: tuple[str, int, int]
) -> Outgoing:
    """The DLQ form of a review (or audit) item that cannot be produced as it is."""
    body: dict[str, Any] = orjson.loads(item.value or b"{}")
    event = body.pop("event", None)
    raw = orjson.dumps(event) if event is not None else b""
    for finding in body.get("findings", ()):
        matches = finding.get("matches", [])
        if len(matches) > MATCHES_KEPT:
            finding["matches"] = matches[:MATCHES_KEPT]
            finding["matches_cut"] = len(matches) - MATCHES_KEPT
    topic, partition, offset = source
    form = {
        "refused": {"topic": item.topic, "bytes": record_bytes(item), "reason": reason},
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "verdict": body,
        "event": {"truncated": True, "bytes": len(raw),
                  "head": raw[: HEAD_CHARS * 4].decode("utf-8", "ignore")[:HEAD_CHARS]},
    }  # fmt: skip
    value = orjson.dumps(form)
    if len(value) > DLQ_FORM_BYTES:  # huge findings lists: keep the verdict's summary only
        form["verdict"] = {k: v for k, v in body.items() if k != "findings"}
        form["verdict"]["findings_cut"] = len(body.get("findings", ()))
        value = orjson.dumps(form)
    kept = [(k, v) for k, v in item.headers if k in ("screener-rules-version", "screener-category")]
    headers: Headers = [
        *kept,
        ("screener-error", f"{OUTPUT_REFUSED}: {reason}".encode()[:1000]),
        ("screener-source-topic", topic.encode()),
        ("screener-source-partition", str(partition).encode()),
        ("screener-source-offset", str(offset).encode()),
    ]
    return Outgoing(dlq_topic, item.key, value, headers)


def fit(item: Outgoing, max_bytes: int, dlq_topic: str, source: tuple[str, int, int]) -> Outgoing:
    """`item`, or its DLQ form if it is larger than `max_bytes`."""
    size = record_bytes(item)
    if size <= max_bytes:
        return item
    return refused_item(item, f"{size} bytes over --max-output-bytes {max_bytes}", dlq_topic,
                        source)  # fmt: skip
