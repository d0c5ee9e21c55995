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
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from pipeline_support import Collector, Service, new_topics, partitions_of, produce
from state_support import (
    PACKS,
    VOLUME_RULE,
    committed,
    established,
    flagged_by,
    free_port,
    kill_inside_a_transaction,
    metric,
    post,
    service,
    tag,
    until,
    until_committed,
    user_on,
)

from screener.brokers import ApacheKafka, EmbeddedBroker
from screener.kafka.topics import topic_config
from screener.state.codec import decode
from screener.state.windows import WindowSpec
from screener.synthetic.generate import GenConfig, Generator
from screener.synthetic.presets import take

SCAN_RULES = ("--rules", str(PACKS / "common.yaml"), "--rules", str(PACKS / "behaviour.yaml"))
BEHAVIOUR_RULES = {
    VOLUME_RULE, "illicit_ads.posting_burst", "illicit_ads.advert_many_groups",
    "illicit_ads.campaign_ring", "solicitation.contact_only_new_account",
}  # fmt: skip
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


async def test_a_kill_9_between_two_commit_interval_flushes_continues_the_count(
    tansu: EmbeddedBroker, services: list[Service], topic_factory: Any
) -> None:
    """With a commit interval the state's changelog is flushed with the offsets, once per
    interval: killed after one flush and well past it (review items already out), the
    restarted worker restores the flushed state and re-reads exactly the batches after it, so
    the count neither restarts (post 149 would not be flagged) nor counts twice (posts below
    100 would be)."""
    bootstrap = tansu.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group, t = f"g-{tag()}", tag()
    user = user_on(1, 3, t)
    burst = [post(user, i) for i in range(150)]
    await produce(bootstrap, topics["input"], established(100, t) + burst[:110])
    base = (bootstrap, topics, group, "--batch-max-records", "20", "--metrics-port", "0")
    # one flush per 120 records (and none by time): the first at 120-139 of the 210 records
    first = service(*base, "--commit-interval-ms", "600000", "--commit-every", "120").start()
    services.append(first)
    await until_committed(bootstrap, group, topics["input"], 120, 180)
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: 109 in flagged_by(review).get(user, []), 120, "post 109")
    done = await committed(bootstrap, group, topics["input"])
    assert 120 <= done < 210, done  # screened to the end, committed only to the flush
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    await produce(bootstrap, topics["input"], burst[110:])
    second = service(*base).start()  # the default: every batch commits
    services.append(second)
    await until_committed(bootstrap, group, topics["input"], 250, 180)
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: 149 in flagged_by(review).get(user, []), 60, "post 149")
        await review.drain()
    # re-read posts may be reviewed twice (at-least-once), but exactly posts 100.. are flagged
    assert set(flagged_by(review)[user]) == set(range(FLAGGED_FROM, 150))
    assert set(flagged_by(review)) == {user}
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


async def test_exactly_once_an_aborted_batchs_changelog_records_are_not_restored(
    apache_kafka: ApacheKafka, services: list[Service], topic_factory: Any
) -> None:
    bootstrap = apache_kafka.bootstrap_servers
    topics = await new_topics(topic_factory, bootstrap)
    group, t = f"g-{tag()}", tag()
    user = user_on(1, 3, t)
    burst = [post(user, i) for i in range(400)]
    await produce(bootstrap, topics["input"], established(60, t) + burst[:100])
    args = (bootstrap, topics, group, "--guarantee", "exactly-once", "--batch-max-records", "2",
            "--metrics-port", "0")  # fmt: skip
    first = service(*args).start()
    services.append(first)
    await until_committed(bootstrap, group, topics["input"], 160, 180)
    # from here on every batch is the bursting account's: any open transaction carries its
    # changelog record; the worker is killed with one open, which its successor aborts
    await produce(bootstrap, topics["input"], burst[100:])
    changelog = f"{group}-{topics['input']}-state-changelog"
    await kill_inside_a_transaction(first, bootstrap, changelog)
    second = service(*args).start()
    services.append(second)
    await until_committed(bootstrap, group, topics["input"], 460, 240)
    async with Collector(bootstrap, topics["review"], "read_committed") as review:
        await review.drain()
    ids = review.id_list()
    assert len(ids) == len(set(ids)), "duplicate review items under exactly-once"
    # had the aborted batch's changelog record been restored, its posts would count twice
    # (once restored, once re-read) and the rule would trip before the 101st image
    assert flagged_by(review) == {user: list(range(FLAGGED_FROM, 400))}
    async with Collector(bootstrap, changelog) as raw, Collector(
        bootstrap, changelog, "read_committed"
    ) as committed:  # fmt: skip
        await raw.drain()
        await committed.drain()
    assert len(raw.records) > len(committed.records)  # the aborted records are in the log
    # the account's last committed state counts each of its 400 images once (all within the
    # hour): restoring the aborted batch's record and re-reading that batch would count its
    # images twice
    last = [value for key, value, _ in committed.records if key == b"u" + user.encode()][-1]
    _, rows = decode(last)
    assert int(rows[WindowSpec("media", 3600)][1].sum()) == 400
    assert "restored:" in second.stderr()
    # created compacted, with the input's partition count
    config = await topic_config({"bootstrap_servers": bootstrap}, changelog)
    assert config.get("cleanup.policy") == "compact"
    assert len(await partitions_of(bootstrap, changelog)) == 3
    assert second.stop() == 0, second.stderr()[-3000:]


async def test_scan_and_run_give_the_same_verdicts_over_one_stateful_sequence(
    tansu: EmbeddedBroker, services: list[Service], topic_factory: Any, tmp_path: Path
) -> None:
    """Generated traffic with the four behaviour episodes woven in (an image flood, an
    advert into many groups, a campaign ring, a contact-only account), screened offline by
    `screener scan` and online by `screener run` (one input partition: campaign counts span
    all users only there), flags the same events with the same rules and actions."""
    bootstrap = tansu.bootstrap_servers
    t = tag()
    topics = {"input": f"in-{t}", "review": f"review-{t}", "dlq": f"dlq-{t}"}
    await topic_factory(bootstrap, 1, topics["input"])
    for name in (topics["review"], topics["dlq"]):
        await topic_factory(bootstrap, 3, name)
    generator = Generator(GenConfig(seed=5, users=2_000, id_prefix=f"s{t}"))
    events = [g.value for g in take(generator, "behaviour", 9_000)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(events) + b"\n")
    offline = subprocess.run(
        [sys.executable, "-m", "screener", "scan", *SCAN_RULES, str(path)],
        capture_output=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    expected = {
        v["event_id"]: (v["action"], sorted(f["rule"] for f in v["findings"]))
        for v in map(orjson.loads, offline.splitlines()) if v["flagged"]
    }  # fmt: skip
    behaviour_rules = {r for _, rules in expected.values() for r in rules if r in BEHAVIOUR_RULES}
    assert {VOLUME_RULE, "illicit_ads.campaign_ring"} <= behaviour_rules, behaviour_rules
    await produce(bootstrap, topics["input"], events)
    run = service(bootstrap, topics, f"g-{t}", "--metrics-port", "0").start()
    services.append(run)
    await until_committed(bootstrap, f"g-{t}", topics["input"], len(events), 300)
    async with Collector(bootstrap, topics["review"]) as review:
        await review.until(lambda: len(review.records) >= len(expected), 60, "every review item")
        await review.drain()
    online = {
        item["event_id"]: (item["action"], sorted(f["rule"] for f in item["findings"]))
        for item in (orjson.loads(value) for _, value, _ in review.records)
    }
    assert online == expected
    assert run.stop() == 0, run.stderr()[-3000:]
