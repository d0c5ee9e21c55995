"""The recording format: exact round trips, frames, interrupted files, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.traffic.recording import (
    Recorded,
    RecordingError,
    RecordingReader,
    RecordingWriter,
    decode_all,
    encode,
    read_recording,
    scan,
)

maybe_bytes = st.none() | st.binary(max_size=300)
records = st.builds(
    Recorded,
    topic=st.text(min_size=1, max_size=30),
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    timestamp=st.integers(-(2**63), 2**63 - 1),
    key=maybe_bytes,
    value=maybe_bytes,
    headers=st.lists(st.tuples(st.text(max_size=20), maybe_bytes), max_size=4).map(tuple),
    timestamp_type=st.sampled_from([0, 1]),
)


@given(st.lists(records, max_size=20))
def test_binary_frames_round_trip_exactly(recs: list[Recorded]) -> None:
    buf = bytearray()
    for rec in recs:
        encode(rec, buf)
    assert list(decode_all(bytes(buf))) == recs


def test_none_and_empty_stay_distinct() -> None:
    recs = [Recorded("t", 0, 0, 1, None, b"", (("h", None), ("h", b""))),
            Recorded("t", 0, 1, 1, b"", None, ())]  # fmt: skip
    buf = bytearray()
    for rec in recs:
        encode(rec, buf)
    assert list(decode_all(bytes(buf))) == recs


def sample(n: int, topic: str = "chat.events") -> list[Recorded]:
    return [
        Recorded(topic, i % 3, i // 3, 1_700_000_000_000 + i, None if i % 7 == 0 else b"k%d" % i,
                 b"\xff\xfe invalid utf-8 %d" % i, (("seq", str(i).encode()),))
        for i in range(n)
    ]  # fmt: skip


@settings(deadline=None, max_examples=20)
@given(st.integers(1, 5000))
def test_file_round_trip_across_many_frames(frame_bytes: int) -> None:
    import tempfile

    recs = sample(300)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.screc"
        with RecordingWriter.create(path, {"note": "x"}, frame_bytes=frame_bytes) as writer:
            for rec in recs:
                writer.write(rec)
        reader = RecordingReader(path)
        assert list(reader) == recs
        assert reader.meta["note"] == "x" and reader.meta["version"] == 1
        assert reader.truncated == 0


def test_file_is_a_standard_multi_frame_zstd_stream(tmp_path: Path) -> None:
    path = tmp_path / "r.screc"
    with RecordingWriter.create(path, {}, frame_bytes=200) as writer:
        for rec in sample(50):
            writer.write(rec)
    raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb"), read_across_frames=True)
    assert raw.read().startswith(b"SCRREC\x00\x01")


def test_truncated_tail_is_ignored_and_resume_cuts_it_off(tmp_path: Path) -> None:
    path = tmp_path / "r.screc"
    recs = sample(400)
    with RecordingWriter.create(path, {}, frame_bytes=1000) as writer:
        for rec in recs:
            writer.write(rec)
    full = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(full - 5)  # the last frame is cut short: a crash mid-write
    reader = RecordingReader(path)
    kept = list(reader)
    assert 0 < len(kept) < len(recs) and kept == recs[: len(kept)]
    assert reader.truncated > 0
    found = scan(path)
    assert found.records == len(kept) and found.truncated == reader.truncated
    for p in range(3):
        offsets = [r.offset for r in kept if r.partition == p]
        assert found.next_offsets[("chat.events", p)] == max(offsets) + 1

    writer, resumed = RecordingWriter.resume(path, {})
    with writer:
        for rec in recs[len(kept) :]:
            writer.write(rec)
    assert resumed.valid_end < full
    reader = RecordingReader(path)
    assert list(reader) == recs
    assert reader.truncated == 0


def test_resume_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "new.screc"
    writer, found = RecordingWriter.resume(path, {"topics": ["a"]})
    with writer:
        writer.write(sample(1)[0])
    assert found.records == 0 and list(read_recording(path)) == sample(1)


def test_not_a_recording_and_damage_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.zst"
    other.write_bytes(zstandard.ZstdCompressor().compress(b"just some text"))
    with pytest.raises(RecordingError, match="magic"):
        list(read_recording(other))
    path = tmp_path / "r.screc"
    with RecordingWriter.create(path, {}) as writer:
        for rec in sample(100):
            writer.write(rec)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 + 40] ^= 0xFF  # flip bits inside the records frame (checksummed)
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError):
        list(read_recording(path))
