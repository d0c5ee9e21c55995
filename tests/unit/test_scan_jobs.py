"""`screener scan --jobs N` prints exactly what one process prints, and fails loudly.

The parent cuts the input into chunks (`scan_chunks.Chunker`) and forked workers screen them
(`scan_jobs`); both halves are checked against the one-process path: the lines (numbers,
blank, oversized, `\\r`, no final newline, several files, any block split) and the verdict
bytes (truncation, bad UTF-8, chunk boundaries), and a worker that dies ends the scan with an
error after a clean prefix of the output."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from screener.engine import Engine
from screener.rules import load_packs
from screener.scan import numbered, render_json, render_text_block, scan_json, stateless
from screener.scan_chunks import Chunker, Lines, Oversized, numbered_lines
from screener.scan_jobs import WorkerDied, scan_parallel
from screener.scan_jobs import _fork_safe as fork_safe  # the real one: `forks` patches it
from screener.synthetic import corpus

SEEDS = Path(__file__).parents[2] / "seeds"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_packs([SEEDS / "rules"]), max_text_chars=200)


@pytest.fixture(autouse=True)
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fork even though pytest's process may have threads left by other tests.

    The product forks only when the main thread is alone (`_fork_safe`, tested below): a
    thread holding a lock at fork would leave it held in the worker. A test process that ran
    the in-process service tests first still has their threads, and without this every test
    here would quietly take the one-process path instead of testing the workers. The
    workers only screen and write to their pipes, so these threads' locks are never needed.
    The recorded pids say a test really forked.
    """
    import screener.scan_jobs as jobs_module

    def safe(engine: Engine) -> bool:
        engine.pack.regexes.wait()
        return True

    monkeypatch.setattr(jobs_module, "_fork_safe", safe)
    forked: list[int] = []
    real = jobs_module._Pool._fork

    def fork(self: object) -> object:
        worker = real(self)  # type: ignore[arg-type]
        forked.append(worker.pid)  # type: ignore[attr-defined]
        return worker

    monkeypatch.setattr(jobs_module._Pool, "_fork", fork)
    return forked


def test_forking_waits_for_the_main_thread_to_be_alone(engine: Engine) -> None:
    import threading

    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not fork_safe(engine)  # another thread alive: stay in one process
    finally:
        release.set()
        other.join()
    assert fork_safe(engine) == (threading.active_count() == 1)


@pytest.fixture(autouse=True)
def tunes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The scan's GC tuning, recorded instead of freezing the test process's heap."""
    import screener.scan_jobs as jobs_module

    calls: list[int] = []
    monkeypatch.setattr(jobs_module, "tune_gc", calls.append)
    return calls


def _chunked(streams: list[bytes], limit: int, lines: int, rng: random.Random) -> list:
    chunker = Chunker(limit=limit, lines=lines, size=1 << 30)
    got: list = []

    def take(chunks: list) -> None:
        for chunk in chunks:
            if isinstance(chunk, Oversized):
                got.append((chunk.lineno, None))
            else:
                assert isinstance(chunk, Lines) and chunk.data.endswith(b"\n")
                assert chunk.data.count(b"\n") <= lines
                got.extend(numbered_lines(chunk, limit))

    for data in streams:
        at = 0
        while at < len(data):  # random block splits, 1 byte to a few lines
            step = rng.choice((1, 2, 7, 33, 200, 5000))
            take(chunker.feed(data[at : at + step]))
            at += step
        take(chunker.end_of_stream())
    take(chunker.finish())
    return got


def _random_stream(rng: random.Random, limit: int) -> bytes:
    pieces = []
    for _ in range(rng.randrange(0, 60)):
        kind = rng.random()
        if kind < 0.1:
            line = b""
        elif kind < 0.2:
            line = b" \t"
        elif kind < 0.3:
            line = b"x" * rng.choice((limit - 1, limit, limit + 1, limit + 2, 3 * limit))
        elif kind < 0.4:
            line = b"y" * (limit - 1) + b"\r\r"
        else:
            line = rng.randbytes(rng.randrange(1, 20)).replace(b"\n", b"") + "加V信".encode()
        pieces.append(line + rng.choice((b"\n", b"\r\n")))
    data = b"".join(pieces)
    return data[:-1] if data and rng.random() < 0.5 else data  # sometimes no final newline


def test_chunks_hold_exactly_the_lines_read_lines_gives() -> None:
    rng = random.Random(14)
    for _ in range(300):
        limit = rng.choice((5, 16, 40))
        streams = [_random_stream(rng, limit) for _ in range(rng.randrange(1, 4))]
        want = list(numbered([io.BytesIO(s) for s in streams], limit))
        assert _chunked(streams, limit, rng.choice((1, 2, 3, 1024)), rng) == want


def _text_input() -> bytes:
    lines = corpus.messages(5000, seed=11)
    lines[5] = "约炮加V信" * 100  # over max_text_chars: truncated
    lines[7] = ""  # blank: skipped
    lines[8] = "   "
    lines[2047] = "\udcff"  # placeholder for bad UTF-8 below
    data = "\n".join(lines).encode("utf-8", "surrogateescape")
    return data + b"\n\xff\xfe broken utf-8\r\n" + b"z" * 3000 + b"\nlast line without newline"


def _parallel(engine: Engine, paths: list[Path], tmp: Path, **kwargs: object) -> bytes:
    out_path = tmp / "out.jsonl"
    streams = [p.open("rb") for p in paths]
    try:
        with out_path.open("wb") as out:
            scan_parallel(engine, streams, out, **kwargs)  # type: ignore[arg-type]
    finally:
        for s in streams:
            s.close()
    return out_path.read_bytes()


def _one_process(engine: Engine, paths: list[Path], as_text: bool, limit: int) -> bytes:
    streams = [p.open("rb") for p in paths]
    try:
        return b"".join(render_json(engine, numbered(streams, limit), as_text))
    finally:
        for s in streams:
            s.close()


@pytest.mark.parametrize(("jobs", "chunk_lines"), [(2, 1024), (3, 37), (2, 1)])
def test_parallel_text_scan_is_byte_identical(
    engine: Engine, tmp_path: Path, jobs: int, chunk_lines: int, tunes: list[int],
    forks: list[int],
) -> None:  # fmt: skip
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    data = _text_input()
    a.write_bytes(data[: len(data) // 2])  # two files: the cut is mid-line
    b.write_bytes(data[len(data) // 2 :])
    want = _one_process(engine, [a, b], True, 2000)
    got = _parallel(engine, [a, b], tmp_path, jobs=jobs, as_text=True, limit=2000,
                    chunk_lines=chunk_lines)  # fmt: skip
    assert got == want and tunes  # the GC was tuned (frozen) before forking
    assert len(forks) == (jobs if jobs > 1 else 0)  # and the workers did screen it
    assert b'"truncated":true' in got and b'"error":"bad_utf8' in got
    assert b'"error":"too_large' in got and b'"flagged":true' in got


def test_whole_text_blocks_take_the_fast_path_with_the_same_bytes(engine: Engine) -> None:
    lines = corpus.messages(1000, seed=12)
    lines[3] = "约炮加V信" * 100  # over max_text_chars: a truncated verdict in the block
    data = ("\n".join(lines) + "\n").encode()
    want = b"".join(render_json(engine, numbered([io.BytesIO(data)]), True))
    for first in (1, 77):
        fast = render_text_block(engine, first, data, 1_000_000)
        assert fast is not None
        shifted = b"".join(render_json(engine, numbered_lines(Lines(first, data)), True))
        assert fast == shifted
    assert render_text_block(engine, 1, data, 1_000_000) == want
    assert b'"truncated":true' in want and b'"flagged":true' in want and b'"flagged":false' in want
    for odd in (b"a\n\nb\n", b" \t\nb\n", b"a\r\n", b"\xff\n", b"x" * 50 + b"\n"):
        assert render_text_block(engine, 1, odd, 40) is None  # the line-by-line path


def test_one_chunk_is_screened_without_forking(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tunes: list[int]
) -> None:
    def no_fork() -> int:
        raise AssertionError("forked for one chunk")

    monkeypatch.setattr(os, "fork", no_fork)
    path = tmp_path / "one.txt"
    path.write_bytes(b"hi\n\xff\nlast")
    assert _parallel(engine, [path], tmp_path, jobs=2, as_text=True) == _one_process(
        engine, [path], True, 1_000_000
    )
    assert tunes == []  # nor tuned the GC (a full collection) for one chunk


def test_events_scan_in_parallel_only_without_behaviour(engine: Engine, tmp_path: Path) -> None:
    assert stateless(engine, as_text=True) and not stateless(engine, as_text=False)
    packs = tmp_path / "packs"
    shutil.copytree(SEEDS / "rules", packs)
    (packs / "behaviour.yaml").unlink()
    plain = Engine(load_packs([packs]))
    assert stateless(plain, as_text=False)
    events = tmp_path / "events.jsonl"
    names = ("chat.jsonl", "microblog.jsonl", "malformed.jsonl")
    events.write_bytes(b"".join((SEEDS / "events" / n).read_bytes() for n in names))
    want = b"".join(scan_json(plain, [io.BytesIO(events.read_bytes())]))
    assert _parallel(plain, [events], tmp_path, jobs=2, as_text=False, chunk_lines=16) == want
    assert b'"error":' in want and b'"flagged":true' in want


def test_a_worker_that_dies_fails_the_scan_after_a_clean_prefix(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    import screener.scan_jobs as jobs_module

    real = jobs_module.render_chunk
    parent = os.getpid()

    def dies_at_line_3000(engine: Engine, chunk: object, as_text: bool, limit: int) -> bytes:
        if isinstance(chunk, Lines) and chunk.first <= 3000 < chunk.first + 100:
            if os.getpid() == parent:  # never end the test process itself
                raise AssertionError("line 3000 was screened in the parent, not a worker")
            os._exit(3)
        return real(engine, chunk, as_text, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs_module, "render_chunk", dies_at_line_3000)
    path = tmp_path / "in.txt"
    path.write_text("\n".join(corpus.messages(6000, seed=3)) + "\n", encoding="utf-8")
    want = _one_process(engine, [path], True, 1_000_000)
    with pytest.raises(WorkerDied, match=r"exited with status 3 while screening lines from 29"):
        _parallel(engine, [path], tmp_path, jobs=2, as_text=True, chunk_lines=100)
    got = (tmp_path / "out.jsonl").read_bytes()
    assert want.startswith(got) and got.endswith(b"\n")
    assert got.count(b"\n") <= 2900  # nothing from the lost chunk or after it
    assert len(forks) == 2  # it was the workers
    assert not set(forks) & set(_children(os.getpid()))  # every worker reaped


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found += [int(p) for p in text.split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc (Linux)")
def test_cli_worker_killed_means_an_error_and_nonzero_exit(tmp_path: Path) -> None:
    """The real command on a pipe: SIGKILL one of its workers mid-input."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "screener", "scan", "--text", "--jobs", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    lines = ("\n".join(corpus.messages(3000, seed=5)) + "\n").encode()
    proc.stdin.write(lines)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while len(workers := _children(proc.pid)) < 2:  # forked once the first chunk is cut
        assert time.monotonic() < deadline and proc.poll() is None, "no workers"
        time.sleep(0.05)
    os.kill(workers[0], signal.SIGKILL)
    try:
        for _ in range(20):  # more input: the dead worker is noticed either way
            proc.stdin.write(lines)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the scan already stopped reading
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert b"scan worker" in err and b"killed by signal 9" in err
    assert out.count(b"\n") < 21 * 3000  # stopped early, and every line printed is whole:
    ids = [orjson.loads(line)["event_id"] for line in out.splitlines()]
    assert ids == [str(n) for n in range(1, len(ids) + 1)]
    assert not out or out.endswith(b"\n")


def test_one_shot_scan_never_compiles_hyperscan_and_a_long_one_does(tmp_path: Path) -> None:
    """Cold cache: a deferred compile starts only once the input is more than one chunk,
    and a forking scan waits for it (no thread alive at fork)."""
    from screener.artefacts import ArtefactCache
    from screener.match.hyperscan_db import _hyperscan_available

    if not _hyperscan_available():
        pytest.skip("Hyperscan is not installed: there is no compile to defer")
    cache = ArtefactCache(tmp_path / "cache")
    pack = load_packs([SEEDS / "rules"], cache=cache, defer_hyperscan=True)
    engine = Engine(pack)
    regexes = pack.regexes
    one = tmp_path / "one.txt"
    one.write_text("约炮加V信\nhello\n", encoding="utf-8")
    got = _parallel(engine, [one], tmp_path, jobs=2, as_text=True)
    assert got.count(b"\n") == 2 and b'"flagged":true' in got
    assert regexes._thread is None and regexes._compiled == {}  # nothing compiled
    many = tmp_path / "many.txt"
    many.write_text("\n".join(corpus.messages(3000, seed=4)) + "\n", encoding="utf-8")
    want = _one_process(engine, [many], True, 1_000_000)  # literal prefilter: same verdicts
    assert _parallel(engine, [many], tmp_path, jobs=2, as_text=True) == want
    assert regexes._thread is not None and not regexes._thread.is_alive()
    assert regexes._compiled  # the Hyperscan database is in (and in the cache for next time)
