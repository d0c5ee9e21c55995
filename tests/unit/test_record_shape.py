"""One protocol for a consumed Kafka record: the pipeline's and the recordings' are views of it."""

from typing import get_args, get_origin

from screener.kafka.structs import KafkaRecord
from screener.pipeline.fetched import InputRecord
from screener.traffic.recording import Recorded, RecordLike, encode


def test_pipeline_and_recordings_share_the_kafka_record_protocol() -> None:
    assert get_origin(InputRecord) is KafkaRecord and get_args(InputRecord) == (bytes,)
    assert KafkaRecord in RecordLike.__mro__  # a recording adds only `timestamp_type`
    own = {k for k in vars(RecordLike) if not k.startswith("_")}
    assert own == {"timestamp_type"}


def test_a_recorded_record_encodes() -> None:
    out = bytearray()
    encode(Recorded("t", 0, 1, 2, b"k", b"v", [("h", None)], 0), out)
    assert b"k" in out and b"v" in out
