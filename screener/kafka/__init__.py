"""The Kafka layer: the only package that imports aiokafka.

Everything else (the service, the traffic tools, the benchmarks, the test support) builds its
clients, topics and retries here, so a client option, a security setting or a workaround for a
broker quirk is written once. Modules:

- `clients`: connection options (security included) from `Settings`, client factories;
- `topics`: create topics and wait for their leaders; partition ids; delete;
- `retry`: capped exponential backoff with jitter (no aiokafka: pure asyncio);
- `send`: `producer.send` as a future, failures to enqueue included; `send_batches` for
  many records to one partition;
- `errors`: the error types callers catch, and which of them mean "not reachable yet";
- `noise`: aiokafka's handled failures in its background routines as one line, not a
  traceback.
"""

from screener.kafka.clients import (
    TOOL_CONNECT_TIMEOUT_S,
    Admin,
    Consumer,
    Producer,
    RebalanceListener,
    connection_options,
    make_admin,
    make_consumer,
    make_producer,
    tool_options,
    wait_for_broker,
)
from screener.kafka.errors import (
    UNREACHABLE,
    BrokerUnreachable,
    KafkaConnectionError,
    KafkaError,
    ProducerFenced,
    TransactionsUnsupported,
)
from screener.kafka.retry import Backoff, retry
from screener.kafka.send import RecordBatches, murmur2, send, send_batches
from screener.kafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition
from screener.kafka.topics import (
    MissingTopic,
    TopicRefused,
    delete_topics,
    ensure_topics,
    partition_ids,
)

__all__ = [
    "TOOL_CONNECT_TIMEOUT_S",
    "UNREACHABLE",
    "Admin",
    "Backoff",
    "BrokerUnreachable",
    "Consumer",
    "ConsumerRecord",
    "KafkaConnectionError",
    "KafkaError",
    "MissingTopic",
    "OffsetAndMetadata",
    "Producer",
    "ProducerFenced",
    "RebalanceListener",
    "RecordBatches",
    "TopicPartition",
    "TopicRefused",
    "TransactionsUnsupported",
    "connection_options",
    "delete_topics",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "murmur2",
    "partition_ids",
    "retry",
    "send",
    "send_batches",
    "tool_options",
    "wait_for_broker",
]
