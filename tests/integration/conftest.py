"""Real brokers over TCP for integration tests.

``tansu`` and ``apache_kafka`` are session-scoped (one broker process each per run);
``broker`` runs a test on both. Kafka needs Java 17+ and, on first use, Maven: when
they are missing the fixture errors rather than skips, so CI cannot go green without
having exercised Kafka. ``SCREENER_SKIP_KAFKA=1`` skips them, outside CI only.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
from pipeline_support import Service

from screener.brokers import ApacheKafka, BrokerError, BrokerProcess, EmbeddedBroker
from screener.kafka import ensure_topics

CreateTopic = Callable[..., Awaitable[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag everything that touches Apache Kafka, so `-m "not kafka"` works."""
    for item in items:
        if "apache_kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


B = TypeVar("B", bound=BrokerProcess)


def _started(make: Callable[[], B]) -> B:
    """Build and start a broker; a failure fails the test with just the broker's reason."""
    try:
        broker = make()
        broker.start()
        return broker
    except BrokerError as exc:
        reason = str(exc)
    pytest.fail(f"broker did not start: {reason}", pytrace=False)


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    broker = _started(lambda: EmbeddedBroker(log_path=tmp_path_factory.mktemp("tansu") / "log"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    if os.environ.get("SCREENER_SKIP_KAFKA") == "1":
        if os.environ.get("CI"):
            pytest.fail("SCREENER_SKIP_KAFKA=1 is for local runs; CI must run Kafka tests")
        pytest.skip("SCREENER_SKIP_KAFKA=1")
    broker = _started(lambda: ApacheKafka(tmp_path_factory.mktemp("kafka")))
    yield broker
    broker.close()


@pytest.fixture(
    params=[
        pytest.param("tansu", id="tansu"),
        pytest.param("kafka", id="kafka", marks=pytest.mark.kafka),
    ]
)
def broker(request: pytest.FixtureRequest) -> BrokerProcess:
    """Each test using this runs once against Tansu and once against Apache Kafka."""
    fixture = "apache_kafka" if request.param == "kafka" else "tansu"
    result: BrokerProcess = request.getfixturevalue(fixture)
    return result


async def create_topic(
    bootstrap_servers: str,
    partitions: int = 3,
    name: str | None = None,
    *,
    timeout: float = 30.0,
) -> str:
    """Create a topic (unique name unless given) and wait until every partition has a leader.

    Waiting avoids the first produce racing leader election on Kafka.
    """
    name = name or f"it-{uuid.uuid4().hex[:12]}"
    async with asyncio.timeout(timeout):
        options = {"bootstrap_servers": bootstrap_servers}
        await ensure_topics(options, [name], partitions, wait_s=timeout)
    return name


@pytest.fixture
def services() -> Iterator[list[Service]]:
    """Processes of `screener run` started by a test; killed at its end if still running."""
    started: list[Service] = []
    yield started
    for s in started:
        s.close()


@pytest.fixture
def topic_factory() -> CreateTopic:
    """``await topic_factory(bootstrap_servers, partitions=3, name=None) -> topic name``."""
    return create_topic
