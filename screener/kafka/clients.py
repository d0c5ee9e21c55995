"""Kafka clients built from `Settings`: connection and security options, written once.

The service and every tool (record, replay, generate, loadtest, demo, the benchmarks, the test
support) get their clients here, so SASL/TLS reach them all alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from screener.kafka.errors import UNREACHABLE, BrokerUnreachable, TransactionsUnsupported
from screener.kafka.retry import Backoff, retry, sleep_or_stop
from screener.kafka.send import RecordBatches

if TYPE_CHECKING:
    from screener.pipeline.settings import Settings

Consumer: TypeAlias = AIOKafkaConsumer
Producer: TypeAlias = AIOKafkaProducer
Admin: TypeAlias = AIOKafkaAdminClient
RebalanceListener: TypeAlias = ConsumerRebalanceListener
Options = dict[str, Any]

log = logging.getLogger("screener.kafka")


def connection_options(settings: Settings) -> Options:
    """Connection settings shared by every client (consumer, producer, admin)."""
    common: Options = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        common |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": settings.sasl_password,
        }
    if settings.security_protocol.endswith("SSL"):
        from aiokafka.helpers import create_ssl_context

        common["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile
        )
    return common


def tool_options(bootstrap_servers: str | None) -> Options:
    """For the traffic tools: servers from their flag, security from the `SCREENER_*`
    environment, so a tool reaches whatever cluster the service reaches."""
    from screener.pipeline.settings import load_settings

    overrides = {"bootstrap_servers": bootstrap_servers} if bootstrap_servers else {}
    return connection_options(load_settings(None, overrides))


def make_consumer(options: Options, *topics: str, **config: Any) -> Consumer:
    return AIOKafkaConsumer(*topics, **options, **config)


def make_producer(options: Options, **config: Any) -> Producer:
    return AIOKafkaProducer(**options, **config)


def make_admin(options: Options) -> Admin:
    return AIOKafkaAdminClient(**options)


TOOL_CONNECT_TIMEOUT_S = 10.0
"""How long one-shot tools wait for a broker before saying so (the service: `--connect-timeout-s`,
by default forever)."""


async def wait_for_broker(
    options: Options,
    *,
    stop: asyncio.Event | None = None,
    timeout_s: float | None = None,
    on_attempt: Callable[[int, BaseException], None] | None = None,
) -> None:
    """Return once a broker answers a metadata request; until then retry with capped
    exponential backoff and jitter (0.5 s doubling to 30 s), one log line per attempt.

    Raises `BrokerUnreachable` after `timeout_s` (None: never) or when `stop` is set. A
    container started beside Kafka spends its first minute here, so this is the normal path,
    not an error: aiokafka's own ERROR line per failed bootstrap is silenced while waiting,
    since the attempt line says the same.
    """
    servers = options.get("bootstrap_servers")
    attempts = 0

    def attempt(n: int, exc: BaseException) -> None:
        nonlocal attempts
        attempts = n
        if on_attempt is not None:
            on_attempt(n, exc)

    async def probe() -> None:
        admin = make_admin(options)
        try:
            await admin.start()  # bootstrap: connect and fetch metadata
        finally:
            await bounded(admin.close(), 5)

    client_log = logging.getLogger("aiokafka.client")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        await retry(
            probe, f"connecting to Kafka at {servers}", retry_on=(*UNREACHABLE, KafkaError),
            stop=stop, backoff=Backoff(initial=0.5, cap=30.0), timeout_s=timeout_s,
            on_attempt=attempt,
        )  # fmt: skip
    except (*UNREACHABLE, KafkaError) as exc:
        within = "" if timeout_s is None else f" within {timeout_s:g}s"
        raise BrokerUnreachable(
            f"no Kafka broker answered at {servers}{within} ({attempts} attempts; last: "
            f"{type(exc).__name__}: {exc}); check --bootstrap-servers and that the broker is up"
        ) from exc
    finally:
        client_log.setLevel(level)


# -- the service's clients ------------------------------------------------------------------------


def worker_consumer(settings: Settings, *, read_committed: bool) -> Consumer:
    """The service's group consumer: manual commits, batches of `batch_max_records`."""
    return make_consumer(
        connection_options(settings),
        *settings.input_topics,
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset=settings.auto_offset_reset,
        max_poll_records=settings.batch_max_records,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        isolation_level="read_committed" if read_committed else "read_uncommitted",
    )


def worker_producer_options(settings: Settings) -> Options:
    """The service's producer: acks=all (nothing is committed before its output is durable)."""
    return {
        "acks": "all",
        "linger_ms": settings.linger_ms,
        "max_batch_size": settings.max_batch_bytes,
        "compression_type": None if settings.compression == "none" else settings.compression,
        **connection_options(settings),
    }


def changelog_batches(settings: Settings, *, transactional: bool) -> RecordBatches:
    """How the behaviour state's changelog record batches are built (`changelog_compression`)."""
    codec = settings.changelog_compression
    return RecordBatches(
        settings.compression if codec == "same" else codec,
        settings.changelog_batch_bytes,
        transactional,
    )


async def bounded(awaitable: Any, seconds: float) -> None:
    """Await a clean-up step for at most `seconds`, ignoring its failure."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, seconds)


async def start_producer(options: Options, stop: asyncio.Event) -> Producer:
    """An idempotent producer where the broker has them, else a plain one (Tansu has none:
    acks=all and commit-after-ack still lose nothing). Retries while the broker is down."""
    producer = AIOKafkaProducer(enable_idempotence=True, **options)
    sender_log = logging.getLogger("aiokafka.producer.sender")
    level = sender_log.level
    sender_log.setLevel(logging.CRITICAL)  # a refusal is expected (Tansu): one line below
    try:
        await asyncio.wait_for(producer.start(), 10)
        return producer
    except (KafkaError, TimeoutError) as exc:
        if isinstance(exc, (*UNREACHABLE, TimeoutError)):
            log.warning("idempotent producer unavailable (%r); continuing without it", exc)
        else:
            log.info("the broker has no idempotent producer (as the embedded broker): "
                     "producing with acks=all and committing only acknowledged output "
                     "(at-least-once; a retry can duplicate)")  # fmt: skip
        await bounded(producer.stop(), 5)
    finally:
        sender_log.setLevel(level)
    producer = AIOKafkaProducer(**options)
    await retry(producer.start, "connect producer", retry_on=(KafkaError, OSError), stop=stop)
    return producer


async def start_transactional_producer(
    options: Options, tid: str, timeout_ms: int, stop: asyncio.Event
) -> Producer:
    """Start a transactional producer (InitProducerId), retrying while the broker is
    unreachable. A broker that answers and refuses (Tansu has no transactions) is final."""
    backoff = Backoff(cap=10.0)
    sender_log = logging.getLogger("aiokafka.producer.sender")
    while True:
        producer = AIOKafkaProducer(
            transactional_id=tid, transaction_timeout_ms=timeout_ms, **options
        )
        level = sender_log.level
        sender_log.setLevel(logging.CRITICAL)  # we report a refusal ourselves, in one line
        try:
            await producer.start()
            return producer
        except UNREACHABLE as exc:
            await bounded(producer.stop(), 5)
            if stop.is_set():
                raise
            log.warning("transactional producer: broker unreachable (%s); retrying", exc)
        except KafkaError as exc:
            await bounded(producer.stop(), 5)
            raise TransactionsUnsupported(
                "exactly-once needs a broker with transactions (Apache Kafka); "
                f"{options.get('bootstrap_servers')} refused InitProducerId ({exc!r})"
            ) from exc
        finally:
            sender_log.setLevel(level)
        await sleep_or_stop(backoff.next_delay(), stop)
