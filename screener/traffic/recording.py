"""The recording file format: Kafka records, exactly, in a resumable zstd stream.

Why not zstd-compressed JSON lines: keys, values and header values are arbitrary bytes
(invalid UTF-8 included), so JSON would need base64 (a third bigger before compression and
slower both ways). Instead each record is a length-prefixed binary frame, and records are
grouped into independent zstd frames (with checksums) of a few MiB:

- the file is a valid multi-frame zstd stream (`zstd -dc` shows the raw frames);
- a recording interrupted mid-write loses at most its last, incomplete zstd frame: the reader
  stops at the last complete frame, and `resume` truncates there and appends new frames;
- reading or writing needs one frame in memory, never the whole topic.

Layout of the decompressed stream (little-endian)::

    header   b"SCRREC\\x00\\x01"  u32 meta_len  meta (JSON object)      -- first frame alone
    record   u8 tag=1  i32 partition  i64 offset  i64 timestamp_ms  i8 timestamp_type
             u16 topic_len  i32 key_len  i32 value_len  u16 header_count     (-1 length: None)
             topic (UTF-8)  key  value
             per header:  u16 name_len  i32 value_len  name (UTF-8)  value

Every zstd frame after the header holds whole records only.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import orjson
import zstandard

from screener.kafka.structs import KafkaRecord

MAGIC = b"SCRREC\x00\x01"
FORMAT_VERSION = 1
DEFAULT_FRAME_BYTES = 4 << 20
_READ_CHUNK = 1 << 20

_TAG_RECORD = 1
_FIXED = struct.Struct("<BiqqbHiiH")
_HEADER = struct.Struct("<Hi")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

Header = tuple[str, bytes | None]


class RecordingError(ValueError):
    """A file that is not a recording, or a frame whose content is damaged."""


class Recorded(NamedTuple):
    """One Kafka record as it was on the broker (a tuple: cheap to make by the million)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_type: int = 0  # 0 CreateTime, 1 LogAppendTime


class RecordLike(KafkaRecord[bytes | None], Protocol):
    """What `encode` reads: a `Recorded` or aiokafka's `ConsumerRecord` (the consumed-record
    shape, plus how its timestamp was set)."""

    @property
    def timestamp_type(self) -> int: ...


def encode(rec: RecordLike, out: bytearray) -> None:
    """Append the binary frame of one record to `out`."""
    topic = rec.topic.encode()
    key, value, headers = rec.key, rec.value, rec.headers
    out += _FIXED.pack(
        _TAG_RECORD, rec.partition, rec.offset, rec.timestamp, rec.timestamp_type, len(topic),
        -1 if key is None else len(key), -1 if value is None else len(value), len(headers),
    )  # fmt: skip
    out += topic
    if key:
        out += key
    if value:
        out += value
    for name, hvalue in headers:
        raw = name.encode()
        out += _HEADER.pack(len(raw), -1 if hvalue is None else len(hvalue))
        out += raw
        if hvalue:
            out += hvalue


def decode_all(payload: bytes) -> Iterator[Recorded]:
    """Decode every record of one decompressed frame (`RecordingError` if damaged)."""
    pos, end = 0, len(payload)
    unpack, fixed_size = _FIXED.unpack_from, _FIXED.size
    topics: dict[bytes, str] = {}
    try:
        while pos < end:
            tag, partition, offset, ts, ts_type, tlen, klen, vlen, count = unpack(payload, pos)
            if tag != _TAG_RECORD:
                raise RecordingError(f"unknown record tag {tag} at byte {pos} of a frame")
            pos += fixed_size
            raw_topic = payload[pos : pos + tlen]
            topic = topics.get(raw_topic)
            if topic is None:
                topic = topics[raw_topic] = raw_topic.decode()
            pos += tlen
            key = None if klen < 0 else payload[pos : pos + klen]
            pos += max(klen, 0)
            value = None if vlen < 0 else payload[pos : pos + vlen]
            pos += max(vlen, 0)
            headers: tuple[Header, ...] = ()
            if count:
                items: list[Header] = []
                for _ in range(count):
                    nlen, hlen = _HEADER.unpack_from(payload, pos)
                    pos += _HEADER.size
                    name = payload[pos : pos + nlen].decode()
                    pos += nlen
                    items.append((name, None if hlen < 0 else payload[pos : pos + hlen]))
                    pos += max(hlen, 0)
                headers = tuple(items)
            if pos > end:
                raise RecordingError(f"record runs past the end of its frame (byte {pos})")
            yield Recorded(topic, partition, offset, ts, key, value, headers, ts_type)
    except (struct.error, UnicodeDecodeError) as exc:
        raise RecordingError(f"damaged record at byte {pos} of a frame: {exc}") from exc


# -- frames --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Frame:
    start: int
    """Offset of the compressed frame in the file."""
    end: int
    """Offset just after it: where the next frame starts."""
    payload: bytes


def iter_frames(fh: IO[bytes], start: int = 0) -> Iterator[Frame]:
    """Complete zstd frames from `fh` (positioned at `start`); stops before an incomplete tail."""
    dctx = zstandard.ZstdDecompressor()
    pending = b""
    pos = start
    while True:
        obj = dctx.decompressobj()
        parts: list[bytes] = []
        data = pending
        fed = 0
        while True:
            if not data:
                data = fh.read(_READ_CHUNK)
                if not data:
                    return  # EOF inside (or before) a frame: incomplete tail ignored
            try:
                parts.append(obj.decompress(data))
            except zstandard.ZstdError as exc:
                raise RecordingError(f"damaged zstd frame at byte {pos}: {exc}") from exc
            fed += len(data)
            data = b""
            if obj.eof:
                pending = obj.unused_data
                end = pos + fed - len(pending)
                yield Frame(pos, end, b"".join(parts))
                pos = end
                break


def _meta(payload: bytes) -> dict[str, Any]:
    if not payload.startswith(MAGIC) or len(payload) < len(MAGIC) + 4:
        raise RecordingError("not a screener recording (bad magic)")
    (n,) = _U32.unpack_from(payload, len(MAGIC))
    meta = orjson.loads(payload[len(MAGIC) + 4 : len(MAGIC) + 4 + n])
    if not isinstance(meta, dict) or meta.get("version") != FORMAT_VERSION:
        raise RecordingError(f"unsupported recording version: {meta!r}")
    return meta


# -- reading -------------------------------------------------------------------------------------


class RecordingReader:
    """Iterate the records of a recording, one frame in memory at a time.

    After iteration, `position` is the end of the last complete frame and `truncated` is how
    many bytes of an incomplete tail were ignored (an interrupted recording).
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self.meta: dict[str, Any] = {}
        self.position = 0
        self.records = 0
        self.finished = False

    @property
    def truncated(self) -> int:
        """Bytes of an incomplete tail (known once iterated to the end; 0 before)."""
        return self.size - self.position if self.finished else 0

    def __iter__(self) -> Iterator[Recorded]:
        with open(self.path, "rb") as fh:
            frames = iter_frames(fh)
            first = next(frames, None)
            if first is None:
                if self.size:
                    raise RecordingError(f"{self.path}: no complete frame (not a recording?)")
                return
            self.meta = _meta(first.payload)
            self.position = first.end
            for frame in frames:
                for rec in decode_all(frame.payload):
                    self.records += 1
                    yield rec
                self.position = frame.end
        self.finished = True


def read_recording(path: Path | str) -> Iterator[Recorded]:
    return iter(RecordingReader(path))


@dataclass
class Scan:
    """What a recording already holds: where valid data ends and the next offset per partition."""

    valid_end: int = 0
    records: int = 0
    truncated: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)


def scan(path: Path | str) -> Scan:
    reader = RecordingReader(path)
    result = Scan()
    for rec in reader:
        tp = (rec.topic, rec.partition)
        if rec.offset + 1 > result.next_offsets.get(tp, 0):
            result.next_offsets[tp] = rec.offset + 1
    result.valid_end = reader.position
    result.records = reader.records
    result.truncated = reader.truncated
    result.meta = reader.meta
    return result


# -- writing -------------------------------------------------------------------------------------


class RecordingWriter:
    """Append records; each `flush()` (or every `frame_bytes`) closes one durable zstd frame."""

    def __init__(self, fh: IO[bytes], *, level: int = 3, frame_bytes: int = DEFAULT_FRAME_BYTES):
        self._fh = fh
        self._cctx = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._buf = bytearray()
        self._frame_bytes = frame_bytes
        self.records = 0
        self.raw_bytes = 0

    @classmethod
    def create(cls, path: Path | str, meta: dict[str, Any], **kw: Any) -> RecordingWriter:
        """A new recording (an existing file is replaced)."""
        writer = cls(open(path, "wb"), **kw)  # noqa: SIM115 - closed by close()
        body = orjson.dumps({"format": "screener-recording", "version": FORMAT_VERSION, **meta})
        writer._write_frame(MAGIC + _U32.pack(len(body)) + body)
        return writer

    @classmethod
    def resume(
        cls, path: Path | str, meta: dict[str, Any], **kw: Any
    ) -> tuple[RecordingWriter, Scan]:
        """Continue a recording: drop an incomplete tail, then append. Creates it if missing."""
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            return cls.create(path, meta, **kw), Scan()
        found = scan(path)
        if found.valid_end == 0:
            raise RecordingError(f"{path}: no complete frame to resume from")
        fh = open(path, "r+b")  # noqa: SIM115 - closed by close()
        fh.truncate(found.valid_end)
        fh.seek(found.valid_end)
        return cls(fh, **kw), found

    @property
    def file_bytes(self) -> int:
        return self._fh.tell()

    def write(self, rec: RecordLike) -> None:
        encode(rec, self._buf)
        self.records += 1
        if len(self._buf) >= self._frame_bytes:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._write_frame(bytes(self._buf))
            self._buf.clear()

    def _write_frame(self, payload: bytes) -> None:
        self.raw_bytes += len(payload)
        self._fh.write(self._cctx.compress(payload))
        self._fh.flush()

    def close(self, *, sync: bool = True) -> None:
        if self._fh.closed:
            return
        try:
            self.flush()
            if sync:
                os.fsync(self._fh.fileno())
        finally:
            self._fh.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
