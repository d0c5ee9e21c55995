"""A record batch whose records are packed in one compiled call (`_records.c`).

aiokafka's `producer.send_batch` takes a `BatchBuilder`; `PackedBatch` is one whose records
were written all at once rather than appended one Python call at a time, with aiokafka's own
header layout, compression (kept only when it saves bytes), CRC-32C and producer state (the
idempotent and transactional producers set it when the batch is drained), so its bytes are
those aiokafka's builder gives for the same records at one timestamp (tested). Why: see
`_records.c`; without the compiled module `kafka.send` appends record by record as before.
"""

from __future__ import annotations

import time

from aiokafka.codec import gzip_encode, lz4_encode, zstd_encode
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBase
from aiokafka.record.util import calc_crc32c

try:
    from screener.kafka._records import pack as _pack  # type: ignore[import-not-found]
except ImportError:  # not built (no compiler at install time)
    _pack = None

_HEADER = DefaultRecordBase.HEADER_STRUCT
_ENCODE = {
    DefaultRecordBase.CODEC_GZIP: gzip_encode,
    DefaultRecordBase.CODEC_LZ4: lz4_encode,
    DefaultRecordBase.CODEC_ZSTD: zstd_encode,
}
"""the codecs whose framing here is aiokafka's (its builder frames snappy otherwise)"""


def packs(codec: int) -> bool:
    """Whether `PackedBatch` builds batches of `codec` here (else append record by record)."""
    return _pack is not None and (codec == DefaultRecordBase.CODEC_NONE or codec in _ENCODE)


class PackedBatch(BatchBuilder):  # type: ignore[misc]  # aiokafka is untyped
    """Records `pairs[start:]` that fit `max_bytes` (at least one), ready to send: `count`
    says how many it took."""

    def __init__(
        self, pairs: list[tuple[bytes, bytes | None]], start: int, max_bytes: int,
        codec: int, transactional: bool, timestamp_ms: int | None = None,
    ):  # fmt: skip
        assert _pack is not None
        super().__init__(max_bytes, codec, is_transactional=transactional)
        self._records: bytes
        self.count: int
        self._records, self.count = _pack(pairs, start, max_bytes)
        self._relative_offset = self.count
        self._timestamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        self._codec = codec
        self._transactional = transactional
        self._built: bytearray | None = None
        self._producer = (-1, -1, 0)  # as aiokafka's BatchBuilder until a producer sets it
        self.close()  # nothing more is appended

    def _set_producer_state(self, producer_id: int, producer_epoch: int, sequence: int) -> None:
        self._producer = (producer_id, producer_epoch, sequence)

    def size(self) -> int:
        return len(self._built) if self._built is not None else _HEADER.size + len(self._records)

    def _build(self) -> bytearray:
        if self._built is None:
            self._built = self._assemble()
        return self._built

    def _assemble(self) -> bytearray:
        body: bytes = self._records
        codec = self._codec
        if codec != DefaultRecordBase.CODEC_NONE:
            packed = _ENCODE[codec](body)
            if len(packed) < len(body):  # as aiokafka: compressed only when it saves bytes
                body = packed
            else:
                codec = DefaultRecordBase.CODEC_NONE
        buf = bytearray(_HEADER.size) + body
        attributes = codec | (DefaultRecordBase.TRANSACTIONAL_MASK if self._transactional else 0)
        producer_id, epoch, sequence = self._producer
        _HEADER.pack_into(
            buf, 0, 0, len(buf) - DefaultRecordBase.AFTER_LEN_OFFSET,
            DefaultRecordBase.NO_PARTITION_LEADER_EPOCH, 2, 0, attributes, self.count - 1,
            self._timestamp, self._timestamp, producer_id, epoch, sequence, self.count,
        )  # fmt: skip
        crc = calc_crc32c(buf[DefaultRecordBase.ATTRIBUTES_OFFSET :])
        buf[DefaultRecordBase.CRC_OFFSET : DefaultRecordBase.ATTRIBUTES_OFFSET] = crc.to_bytes(
            4, "big"
        )
        return buf
