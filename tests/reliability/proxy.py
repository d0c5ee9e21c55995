"""A loopback TCP proxy the test controls: the network between a worker and its broker.

It runs its own asyncio loop in a daemon thread, so it keeps forwarding while the test blocks
(a broker restart, a subprocess). Two kinds of cut, as real networks fail:

- ``cut(reset=True)``: every open connection is closed and new ones are refused at once, as
  when a peer's host reboots or a firewall sends RSTs.
- ``cut(reset=False)``: connections stay open and new ones are accepted, but no byte moves in
  either direction, as in a partition that drops packets; clients only notice via timeouts.

``heal()`` ends the cut; a blackholed connection then resumes where it stopped (nothing is
lost inside the proxy, as TCP would retransmit), a reset one stays closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listen_port = listen_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy",
                                        daemon=True)  # fmt: skip
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        """connections accepted so far (a test can see the client went through here)."""

    # -- control, from the test's thread -------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    def cut(self, *, reset: bool = True) -> None:
        self._call(self._cut(reset))

    def heal(self) -> None:
        self._call(self._heal())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # -- inside the proxy's loop -----------------------------------------------------------
    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self._listen_port, reuse_address=True
        )

    async def _cut(self, reset: bool) -> None:
        self._flowing.clear()
        self._refusing = reset
        if reset:
            for writer in list(self._writers):
                _abort(writer)

    async def _heal(self) -> None:
        self._refusing = False
        self._flowing.set()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _abort(writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)  # the broker is down: the client sees a refused connection
            return
        self.connections += 1
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                _abort(w)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()  # a blackhole holds the bytes until healed
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        _abort(writer)  # one side ended: end the other, as a relay does


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once with RST (SO_LINGER 0), not a graceful FIN after buffered data."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()
