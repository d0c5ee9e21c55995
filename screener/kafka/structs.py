"""aiokafka's record and position types, re-exported so nobody else imports aiokafka, and the
one protocol for what screener reads of a consumed record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

V_co = TypeVar("V_co", covariant=True)


class KafkaRecord(Protocol[V_co]):
    """What screener reads of a consumed record: aiokafka's `ConsumerRecord` has it, and so do
    the recordings' `Recorded` and the tests' fakes. `V_co` is the type of a header value
    (aiokafka gives bytes; a recording keeps a null header value as None)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, V_co]]: ...


__all__ = ["ConsumerRecord", "KafkaRecord", "OffsetAndMetadata", "TopicPartition"]
