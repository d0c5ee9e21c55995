"""Connection options for the Kafka-facing tools (record, replay, generate, loadtest).

They take `--bootstrap-servers` like `screener run`, and the same `SCREENER_*` environment
for security (SASL, TLS), so a tool reaches whatever cluster the service reaches.
"""

from __future__ import annotations

from typing import Any


def client_options(bootstrap_servers: str | None) -> dict[str, Any]:
    """Options shared by every aiokafka client: servers from the flag, security from env."""
    from screener.pipeline.settings import load_settings

    overrides = {"bootstrap_servers": bootstrap_servers} if bootstrap_servers else {}
    return load_settings(None, overrides).kafka_common()


class MissingTopic(LookupError):
    """A topic the tool needs does not exist."""


async def partition_ids(
    options: dict[str, Any], topics: list[str], *, timeout: float = 15.0
) -> dict[str, list[int]]:
    """Partition numbers of each topic, once every partition has a leader.

    Asks the cluster directly (admin metadata) rather than a client's cache, which may predate
    the topic. Raises `MissingTopic` if a topic does not exist.
    """
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found: dict[str, list[int]] = {}
            retry = False
            for meta in await admin.describe_topics(topics):
                name, code, parts = meta["topic"], meta["error_code"], meta["partitions"]
                if code == 3:  # UNKNOWN_TOPIC_OR_PARTITION
                    raise MissingTopic(f"topic {name!r} does not exist")
                if code or not parts or any(p["leader"] < 0 for p in parts):
                    retry = True
                found[name] = sorted(int(p["partition"]) for p in parts)
            if not retry:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise MissingTopic(f"topics {topics} have no leaders after {timeout:.0f}s")
            await asyncio.sleep(0.1)  # poll interval inside the deadline
    finally:
        await admin.close()
