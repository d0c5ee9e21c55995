"""Behaviour state in `screener run`, on a real broker: restored from its changelog topic.

A burst of image posts from one new account trips the shipped volume rule (the 101st image in
an hour); the count lives in per-partition state whose changes go to a compacted changelog
topic with each batch, so it continues across a kill -9 and restart, moves with a partition to
a second worker, and (exactly-once) never includes an aborted transaction's changes. Every
wait is a poll with a deadline.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from pipeline_support import Collector, Service, new_topics, produce
from state_support import (
    established,
    flagged_by,
    free_port,
    metric,
    post,
    service,
    tag,
    until,
    until_committed,
    user_on,
)

from screener.brokers import EmbeddedBroker

FLAGGED_FROM = 100
"""post numbers from 0: the 101st image (post 100) is the first over `user.media(1h) > 100`"""


async def test_a_burst_trips_the_volume_rule_and_the_count_survives_kill_9(
    tansu: EmbeddedBroker, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group, t = f"g-{tag()}", tag()
    user = user_on(1, 3, t)
    burst = [post(user, i) for i in range(150)]
    await produce(bootstrap, topics["input"], established(100, t) + burst[:80])
    args = (bootstrap, topics, group, "--batch-max-records", "20", "--metrics-port", "0")
    first = service(*args).start()
    services.append(first)
    await until_committed(bootstrap, group, topics["input"], 180, 180)
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)  # mid-burst: 80 of the 150 posts counted
    assert first.wait(10) == -signal.SIGKILL
    await produce(bootstrap, topics["input"], burst[80:])
    second = service(*args).start()
    services.append(second)
    await until_committed(bootstrap, group, topics["input"], 250, 180)
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: len(review.records) >= 50, 60, "50 review items")
        await review.drain()
    # posts 100..149 (the 101st image on), counted across the kill: with the count starting
    # again at zero after the restart, post 149 would have been only the 70th
    assert flagged_by(review) == {user: list(range(FLAGGED_FROM, 150))}
    restored = re.findall(rf"state of {topics['input']}-1 restored: (\d+) keys", second.stderr())
    assert restored and int(restored[0]) >= 1, second.stderr()[-3000:]
    assert second.stop() == 0, second.stderr()[-3000:]


async def test_a_rebalance_moves_the_state_with_the_partition(
    tansu: EmbeddedBroker, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group, t = f"g-{tag()}", tag()
    users = [user_on(p, 3, t) for p in range(3)]  # one bursting account per partition
    await produce(bootstrap, topics["input"], [post(u, i) for i in range(80) for u in users])
    ports = [free_port(), free_port()]
    base = (bootstrap, topics, group, "--batch-max-records", "30")
    first = service(*base, "--metrics-port", str(ports[0])).start()
    services.append(first)
    await until_committed(bootstrap, group, topics["input"], 240, 180)
    second = service(*base, "--metrics-port", str(ports[1])).start()
    services.append(second)
    until(lambda: metric(ports[1], "screener_assigned_partitions") >= 1, 120,
          "the second worker owning a partition")  # fmt: skip
    await produce(bootstrap, topics["input"], [post(u, i) for i in range(80, 150) for u in users])
    await until_committed(bootstrap, group, topics["input"], 450, 180)
    # the partitions it took came with their state: restored before their first batch
    assert metric(ports[1], "screener_state_restored_records_total") >= 1
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: len(review.records) >= 150, 60, "150 review items")
        await review.drain()
    # every account's count continued: on the worker that kept its partition, and on the one
    # that restored it from the changelog
    assert flagged_by(review) == {u: list(range(FLAGGED_FROM, 150)) for u in users}
    assert metric(ports[1], "screener_state_entries") >= 1
    assert metric(ports[0], "screener_state_entries") >= 1
    assert second.stop() == 0, second.stderr()[-3000:]
    assert first.stop() == 0, first.stderr()[-3000:]
