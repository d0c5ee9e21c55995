"""`screener scan --jobs N`: stateless lines screened by N forked workers, output in input order.

Lines that carry no behaviour state (every `--text` line; events when the pack keeps none)
are independent of each other, so the scan is embarrassingly parallel. The parent reads the
input in blocks, cuts them into chunks of whole lines (`Chunker`), hands each chunk to the
least busy worker and writes the workers' verdict bytes in input order; the workers run the
same `render_json` as a one-process scan over their chunk, so the output is byte for byte
what `--jobs 1` prints (tests/unit/test_scan_jobs.py).

Fork-safety, the reason for the shape:

- Workers are forked after the packs are compiled and the GC's start-up heap is frozen
  (`runtime.tune_gc`), so a worker never compiles anything and copy-on-write pages stay
  shared (an unfrozen collection would touch every object's header and copy the heap).
- Nothing but the main thread may run at fork: a cold cache's background Hyperscan compile
  is waited for first (it also fills the cache); if any other thread is alive the scan stays
  in one process (a lock held by another thread at fork would never be released in the child).
- Stdout is flushed before forking and workers leave with `os._exit`, so no buffered output
  is ever written twice; workers only talk to the parent over their two pipes.
- A worker that dies (killed, or an exception, printed to stderr) ends the scan with an error
  naming the lines not screened and a non-zero exit; what was printed before is every verdict
  up to that point, in order, never a partial line.

An input that fits in one chunk is screened in the parent: a one-line scan never forks.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import struct
import sys
import threading
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from screener.engine import Engine
from screener.events import MAX_RECORD_BYTES
from screener.runtime import tune_gc, young_threshold
from screener.scan import BATCH_LINES, error_json, render_json, render_text_block, too_large
from screener.scan_chunks import Chunk, Chunker, Lines, Oversized, numbered_lines

BLOCK = 1 << 20
"""Bytes per read of the input."""
WINDOW = 2
"""Chunks in flight per worker: one being screened, one queued in its pipe, so a worker
never waits for the parent between chunks."""
_HEAD = struct.Struct("<QQ")  # parent → worker: first line number, payload bytes
_SIZE = struct.Struct("<Q")  # worker → parent: verdict bytes


class WorkerDied(RuntimeError):
    """A scan worker ended before returning every chunk it was given."""


def render_chunk(engine: Engine, chunk: Chunk, as_text: bool, limit: int) -> bytes:
    if isinstance(chunk, Oversized):
        return error_json(engine.pack.version, chunk.lineno, too_large())
    if as_text:
        fast = render_text_block(engine, chunk.first, chunk.data, limit)
        if fast is not None:
            return fast
    return b"".join(render_json(engine, numbered_lines(chunk, limit), as_text))


def _widen(fd: int) -> None:
    """A 1 MB pipe instead of Linux's 64 KB: a chunk (~110 KB) and its verdicts (~150 KB)
    then cross in one write each, not a parent loop turn per 64 KB (best effort: Linux only,
    and capped by /proc/sys/fs/pipe-max-size)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), BLOCK)
    except (ImportError, OSError):
        pass


@dataclass
class _Worker:
    pid: int
    to_fd: int  # chunks go out here (non-blocking)
    from_fd: int  # verdict bytes come back here
    inflight: deque[tuple[int, Chunk]] = field(default_factory=deque)
    outbox: bytearray = field(default_factory=bytearray)
    inbox: bytearray = field(default_factory=bytearray)


def scan_parallel(
    engine: Engine,
    streams: Sequence[BinaryIO],
    out: BinaryIO,
    *,
    jobs: int,
    as_text: bool,
    limit: int = MAX_RECORD_BYTES,
    chunk_lines: int = BATCH_LINES,
) -> None:
    """Screen every line of `streams` (stateless lines only: see `scan.stateless`) with up to
    `jobs` forked workers, writing verdicts to `out` in input order. Raise `WorkerDied` if a
    worker ends early; output written until then is every verdict before the missing chunk."""
    chunker = Chunker(limit=limit, lines=chunk_lines)
    queue: deque[Chunk] = deque()
    inputs = deque(s.fileno() for s in streams)
    # read until one chunk is cut (or the input ends): an input of one chunk never forks
    while inputs and not queue:
        block = os.read(inputs[0], BLOCK)
        if block:
            queue.extend(chunker.feed(block))
        else:
            inputs.popleft()
            queue.extend(chunker.end_of_stream())
    if not inputs:
        queue.extend(chunker.finish())
    else:
        # more than one chunk: worth compiling Hyperscan for (cold cache only), and worth the
        # GC tuning (its full collection is ~50 ms of a one-line scan's ~1 s); it must come
        # before any fork, so that the frozen start-up heap stays shared with the workers
        engine.pack.regexes.start()
        tune_gc(young_threshold(BATCH_LINES))
    if not inputs or jobs <= 1 or not _fork_safe(engine):
        _in_process(engine, queue, chunks_left(inputs, chunker), out, as_text, limit)
        return
    _Pool(engine, jobs, as_text, limit).run(queue, inputs, chunker, out)


def chunks_left(inputs: deque[int], chunker: Chunker) -> Iterator[Chunk]:
    """The rest of the input's chunks, read with plain blocking reads (the in-process path)."""
    while inputs:
        fd = inputs.popleft()
        while block := os.read(fd, BLOCK):
            yield from chunker.feed(block)
        yield from chunker.end_of_stream()
    yield from chunker.finish()


def _in_process(
    engine: Engine, queue: deque[Chunk], rest: Iterator[Chunk], out: BinaryIO,
    as_text: bool, limit: int,
) -> None:  # fmt: skip
    for source in (queue, rest):
        for chunk in source:
            out.write(render_chunk(engine, chunk, as_text, limit))


def _fork_safe(engine: Engine) -> bool:
    """Wait for the background Hyperscan compile (cold cache only); then forking is safe if
    this is the only thread."""
    engine.pack.regexes.wait()
    return threading.active_count() == 1


class _Pool:
    """The forked workers and the parent's loop: read input, feed workers, write in order."""

    def __init__(self, engine: Engine, jobs: int, as_text: bool, limit: int) -> None:
        self._engine = engine
        self._version = engine.pack.version
        self._as_text = as_text
        self._limit = limit
        self._jobs = jobs
        self.workers: list[_Worker] = []

    def run(self, queue: deque[Chunk], inputs: deque[int], chunker: Chunker, out: BinaryIO) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        out.flush()
        try:
            for _ in range(self._jobs):
                self.workers.append(self._fork())
            self._loop(queue, inputs, chunker, out)
            for w in self.workers:
                os.close(w.to_fd)  # end of input: each worker finishes and exits
                w.to_fd = -1
            for w in self.workers:
                status = self._reap(w)
                if status:
                    raise WorkerDied(f"scan worker {w.pid} {status} after its last chunk")
        finally:
            self._stop()

    def _fork(self) -> _Worker:
        chunk_r, chunk_w = os.pipe()
        verdict_r, verdict_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    # ^C ends it without a traceback (an ignored SIGINT stays ignored)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                for other in self.workers:  # so each worker sees its own input's end
                    for fd in (other.to_fd, other.from_fd):
                        os.close(fd)
                os.close(chunk_w)
                os.close(verdict_r)
                self._serve(chunk_r, verdict_w)
                status = 0
            except BrokenPipeError:
                pass  # the parent is gone: nobody to tell
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(status)  # never run the parent's exit handlers or flush its buffers
        os.close(chunk_r)
        os.close(verdict_w)
        os.set_blocking(chunk_w, False)
        for fd in (chunk_w, verdict_r):
            _widen(fd)
        return _Worker(pid, chunk_w, verdict_r)

    def _serve(self, chunk_fd: int, verdict_fd: int) -> None:
        with os.fdopen(chunk_fd, "rb", buffering=BLOCK) as inp, os.fdopen(verdict_fd, "wb") as res:
            while head := inp.read(_HEAD.size):
                first, size = _HEAD.unpack(head)
                chunk = Lines(first, inp.read(size))
                body = render_chunk(self._engine, chunk, self._as_text, self._limit)
                res.write(_SIZE.pack(len(body)))
                res.write(body)
                res.flush()

    def _loop(
        self, queue: deque[Chunk], inputs: deque[int], chunker: Chunker, out: BinaryIO
    ) -> None:
        results: dict[int, bytes] = {}
        next_seq = next_out = 0
        cap = WINDOW * len(self.workers)
        # poll, not epoll: a regular file is always readable for poll, epoll refuses it
        sel = selectors.PollSelector()
        wanted: dict[int, int] = {}

        def want(fd: int, mask: int) -> None:
            if wanted.get(fd, 0) == mask:
                return
            if mask == 0:
                sel.unregister(fd)
                del wanted[fd]
            elif fd in wanted:
                sel.modify(fd, mask)
                wanted[fd] = mask
            else:
                sel.register(fd, mask)
                wanted[fd] = mask

        ended = not inputs
        while True:
            while next_out in results:
                out.write(results.pop(next_out))
                next_out += 1
            while queue and next_seq - next_out < cap:
                chunk = queue.popleft()
                if isinstance(chunk, Oversized):  # no screening needed: its error line
                    results[next_seq] = error_json(self._version, chunk.lineno, too_large())
                else:
                    w = min(self.workers, key=lambda w: len(w.inflight))
                    w.outbox += _HEAD.pack(chunk.first, len(chunk.data))
                    w.outbox += chunk.data
                    w.inflight.append((next_seq, chunk))
                next_seq += 1
            if next_out in results:
                continue
            if ended and not queue and next_out == next_seq:
                break
            if inputs:
                want(
                    inputs[0],
                    selectors.EVENT_READ if not queue and next_seq - next_out < cap else 0,
                )
            for w in self.workers:
                want(w.from_fd, selectors.EVENT_READ if w.inflight else 0)
                want(w.to_fd, selectors.EVENT_WRITE if w.outbox else 0)
            for key, _events in sel.select():
                fd = key.fd
                if inputs and fd == inputs[0]:
                    block = os.read(fd, BLOCK)
                    if block:
                        queue.extend(chunker.feed(block))
                        continue
                    want(fd, 0)
                    inputs.popleft()
                    queue.extend(chunker.end_of_stream())
                    if not inputs:
                        queue.extend(chunker.finish())
                        ended = True
                    continue
                w = next(w for w in self.workers if fd in (w.from_fd, w.to_fd))
                if fd == w.to_fd:  # (a hang-up reports both events: the fd says which)
                    self._send(w)
                else:
                    self._receive(w, results)

    def _send(self, w: _Worker) -> None:
        try:
            sent = os.write(w.to_fd, w.outbox)
        except BlockingIOError:
            return
        except BrokenPipeError:
            raise self._died(w) from None
        del w.outbox[:sent]

    def _receive(self, w: _Worker, results: dict[int, bytes]) -> None:
        data = os.read(w.from_fd, BLOCK)
        if not data:
            raise self._died(w)
        w.inbox += data
        while len(w.inbox) >= _SIZE.size:
            (size,) = _SIZE.unpack_from(w.inbox)
            if len(w.inbox) < _SIZE.size + size:
                break
            seq, _ = w.inflight.popleft()
            results[seq] = bytes(w.inbox[_SIZE.size : _SIZE.size + size])
            del w.inbox[: _SIZE.size + size]

    def _died(self, w: _Worker) -> WorkerDied:
        pid = w.pid
        status = self._reap(w) or "exited"
        lost = [c for _, c in w.inflight if isinstance(c, Lines)]
        where = f" while screening lines from {lost[0].first}" if lost else ""
        return WorkerDied(f"scan worker {pid} {status}{where}; verdicts were written only "
                          "for the lines before the first unscreened chunk")  # fmt: skip

    @staticmethod
    def _reap(w: _Worker) -> str:
        """'' if the worker exited 0, else how it ended."""
        if w.pid <= 0:
            return ""
        _, raw = os.waitpid(w.pid, 0)
        w.pid = -w.pid
        if os.WIFSIGNALED(raw):
            return f"was killed by signal {os.WTERMSIG(raw)}"
        code = os.WEXITSTATUS(raw)
        return f"exited with status {code}" if code else ""

    def _stop(self) -> None:
        """Close every pipe, end every worker still running (ours, by pid) and reap it."""
        for w in self.workers:
            for fd in (w.to_fd, w.from_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            w.to_fd = w.from_fd = -1
            if w.pid > 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, signal.SIGTERM)
                self._reap(w)
