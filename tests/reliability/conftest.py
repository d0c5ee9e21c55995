"""One Apache Kafka for the fault suite and the security tests (see `kafka_setup`).

A separate broker from the integration tests' one: this one is killed, paused and cut off.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))

from kafka_setup import FaultKafka, start_fault_kafka  # noqa: E402

from screener.brokers import BrokerError  # noqa: E402


def _integration_helpers() -> Any:
    """The integration tests' conftest as a plain module, for `create_topic` (its fixtures
    stay theirs)."""
    spec = importlib.util.spec_from_file_location(
        "integration_helpers", INTEGRATION / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "fault_kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def fault_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultKafka]:
    if os.environ.get("SCREENER_SKIP_KAFKA") == "1":
        if os.environ.get("CI"):
            pytest.fail("SCREENER_SKIP_KAFKA=1 is for local runs; CI must run Kafka tests")
        pytest.skip("SCREENER_SKIP_KAFKA=1")
    try:
        kafka = start_fault_kafka(tmp_path_factory.mktemp("fault-kafka"))
    except BrokerError as exc:
        pytest.fail(f"broker did not start: {exc}", pytrace=False)
    yield kafka
    kafka.proxy.close()
    kafka.broker.close()


@pytest.fixture
def topic_factory() -> Any:
    """``await topic_factory(bootstrap_servers, partitions=3, name=None) -> topic name``."""
    return _integration_helpers().create_topic
