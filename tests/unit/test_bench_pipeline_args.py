"""`bench pipeline`'s settings sweep, the paced events' ids and where Apache Kafka keeps its
log (no broker needed)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from screener.measure.bench_pipeline import (
    SHM_MIN_FREE,
    _contenders,
    _kafka_log_dir,
    _paced_index,
    memory_for_kafka,
    parse_sweep,
)
from screener.measure.feed import event, index_of


def test_a_sweep_names_a_run_setting_and_its_values() -> None:
    assert parse_sweep("fetch_max_wait_ms=5, 20") == ("fetch_max_wait_ms", ["5", "20"])
    assert parse_sweep("linger-ms=0,5") == ("linger_ms", ["0", "5"])


@pytest.mark.parametrize(
    "spec",
    ["fetch_max_wait_ms", "fetch_max_wait_ms=", "no_such_setting=1", "group_id=x",
     "fetch_max_wait_ms=-1", "compression=brotli"],
)  # fmt: skip
def test_a_bad_sweep_is_refused_before_anything_runs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_sweep(spec)


def test_each_swept_value_is_a_one_worker_screener_with_that_flag() -> None:
    plan = _contenders("py", None, 1, "b:1", "t", [], [parse_sweep("linger_ms=0,5")])
    names = [c.name for c in plan]
    swept = ["screener, 1 worker, linger_ms=0", "screener, 1 worker, linger_ms=5"]
    assert names == ["minimal aiokafka loop", "screener, 1 worker", *swept]
    assert plan[3].argv[-2:] == ["--linger-ms", "5"] and plan[3].workers == 1
    assert "--linger-ms" not in plan[1].argv  # the defaults contender runs as shipped
    assert len({c.output_topic for c in plan}) == len(plan)  # each reads and writes its own


def test_paced_outputs_lead_back_to_their_event() -> None:
    raw = event(41, "hello", "p")
    assert _paced_index(raw) == 41  # a yardstick's hit is the event itself
    review = orjson.dumps({"verdict": {"action": "review"}, "event": orjson.loads(raw)})
    assert _paced_index(review) == 41  # a review item carries the event
    assert _paced_index(event(41, "x", "b")) is None  # the backlog's, not the paced feed's
    assert _paced_index(b"[1]") is None and _paced_index(None) is None
    assert index_of("p-x1", "p") is None and index_of(7, "p") is None


def test_kafkas_log_goes_to_dev_shm_and_is_removed_or_stays_on_disk() -> None:
    console = Console(file=io.StringIO())
    with contextlib.ExitStack() as stack:
        assert _kafka_log_dir("disk", stack, console) is None  # ApacheKafka's own temp dir
        path = _kafka_log_dir("memory", stack, console)
        if not memory_for_kafka():  # no /dev/shm with room here: on disk, and it says so
            assert path is None and "on disk" in console.file.getvalue()  # type: ignore[attr-defined]
            return
        assert path is not None and path.parent == Path("/dev/shm") and path.is_dir()
        (path / "segment").write_bytes(b"x")
    assert not path.exists()  # removed with what it held


def test_a_dev_shm_without_room_or_missing_keeps_kafkas_log_on_disk(tmp_path: Path) -> None:
    assert not memory_for_kafka(tmp_path / "missing")
    assert memory_for_kafka(tmp_path) == (shutil.disk_usage(tmp_path).free >= SHM_MIN_FREE)
