"""aiokafka's record and position types, re-exported so nobody else imports aiokafka."""

from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

__all__ = ["ConsumerRecord", "OffsetAndMetadata", "TopicPartition"]
