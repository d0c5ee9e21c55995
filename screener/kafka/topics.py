"""Topics: create what is missing, wait until every partition has a leader, delete.

Written once for the service (`create_topics`), the demo, the benchmarks and the test
support. Leaders are asked of the cluster (admin metadata), not of a client's cache, which
may predate the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from screener.kafka.clients import Options

_UNKNOWN_TOPIC_OR_PARTITION = 3
_TOPIC_ALREADY_EXISTS = 36


class MissingTopic(LookupError):
    """A topic the tool needs does not exist (or has no leaders in time)."""


class TopicRefused(RuntimeError):
    """The cluster refused to create a topic (bad partition count, policy, authorisation)."""


async def ensure_topics(
    options: Options, names: Sequence[str], partitions: int, *, replication: int = 1,
    wait_s: float | None = None, config: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    """Create the topics that are missing (idempotent: a concurrent creator is fine); with
    `wait_s`, then wait that long for every partition of every name to have a leader.
    `config` is the new topics' configuration (e.g. `cleanup.policy=compact`)."""
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                configs = dict(config or {})
                response = await admin.create_topics(
                    [NewTopic(n, partitions, replication, topic_configs=configs) for n in missing]
                )
                for topic, code, *rest in response.topic_errors:
                    if code not in (0, _TOPIC_ALREADY_EXISTS):  # a refusal: retrying won't help
                        raise TopicRefused(f"creating topic {topic!r} failed: error {code} {rest}")
        if wait_s is not None:
            await _leaders(admin, list(dict.fromkeys(names)), wait_s, just_created=True)
    finally:
        await admin.close()


async def partition_ids(
    options: Options, topics: Sequence[str], *, timeout: float = 15.0
) -> dict[str, list[int]]:
    """Partition numbers of each topic, once every partition has a leader.

    Raises `MissingTopic` if a topic does not exist or has no leaders after `timeout` s.
    """
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        return await _leaders(admin, list(topics), timeout)
    finally:
        await admin.close()


async def _leaders(
    admin: AIOKafkaAdminClient, topics: list[str], timeout: float, *, just_created: bool = False
) -> dict[str, list[int]]:
    """Poll metadata until every partition has a leader. A topic unknown to the cluster is
    final at once, unless `just_created` (metadata may not show it yet)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found: dict[str, list[int]] = {}
        retry = False
        for meta in await admin.describe_topics(topics):
            name, code, parts = meta["topic"], meta["error_code"], meta["partitions"]
            if code == _UNKNOWN_TOPIC_OR_PARTITION and (
                not just_created or asyncio.get_running_loop().time() > deadline
            ):
                raise MissingTopic(f"topic {name!r} does not exist")
            if code or not parts or any(p["leader"] < 0 for p in parts):
                retry = True
            found[name] = sorted(int(p["partition"]) for p in parts)
        if not retry:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise MissingTopic(f"topics {topics} have no leaders after {timeout:.0f}s")
        await asyncio.sleep(0.05)  # poll interval inside the deadline


async def delete_topics(options: Options, names: Sequence[str], timeout: float = 30.0) -> None:
    """Delete topics, best effort (clean-up after a benchmark or test)."""
    admin = AIOKafkaAdminClient(**options)
    with contextlib.suppress(Exception):
        await admin.start()
        try:
            await asyncio.wait_for(admin.delete_topics(list(names)), timeout)
        finally:
            await admin.close()


async def topic_config(options: Options, name: str) -> dict[str, str]:
    """A topic's configuration as the cluster reports it (DescribeConfigs): name → value."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
    out: dict[str, str] = {}
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:  # (name, value, read_only, …) per config entry
                out[str(entry[0])] = str(entry[1])
    return out
