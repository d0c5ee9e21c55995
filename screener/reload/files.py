"""The files pack source: poll the rule paths for changes, and reload on SIGHUP.

Polling stat signatures (path, size, mtime, inode) is portable and cheap: a few hundred
`stat` calls a second at most, off the event loop. Stat follows symlinks, so the inode
catches what a rename-into-place save or a Kubernetes ConfigMap update (an atomic swap of the
hidden `..data` symlink the visible files point through) does. A change is compiled only
once the signature has held still for one more poll, so a file caught half-written by an
editor is not reported as a broken pack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from screener.reload.controller import Compile, Reloader
from screener.rules.pack import hidden

log = logging.getLogger("screener.reload")

Signature = tuple[tuple[str, int, int, int], ...]
MAX_WATCHED = 10_000


def signature(paths: Sequence[Path]) -> Signature:
    """What a change to any file under `paths` changes (missing files included, as absent)."""
    entries: list[tuple[str, int, int, int]] = []
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and not hidden(p, path))
            if path.is_dir()
            else [path]
        )
        for file in files[:MAX_WATCHED]:
            try:
                st = os.stat(file)
            except OSError:
                entries.append((str(file), -1, -1, -1))
                continue
            entries.append((str(file), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(entries)


class FileSource:
    def __init__(self, paths: Sequence[Path], build: Compile, interval_s: float = 1.0):
        self.paths = list(paths)
        self.build = build
        self.interval_s = interval_s
        self.hup = asyncio.Event()
        """set (by the SIGHUP handler) to reload now, changed or not."""

    async def run(self, reloader: Reloader) -> None:
        """Until cancelled: offer the pack to `reloader` whenever the files change."""
        last = await asyncio.to_thread(signature, self.paths)
        while True:
            with contextlib.suppress(TimeoutError):  # interval 0: wait for SIGHUP only
                await asyncio.wait_for(self.hup.wait(), self.interval_s or None)
            if self.hup.is_set():
                self.hup.clear()
                last = await asyncio.to_thread(signature, self.paths)
                await reloader.offer(self.build, "SIGHUP")
                continue
            now = await asyncio.to_thread(signature, self.paths)
            if now == last:
                continue
            await asyncio.sleep(self.interval_s)  # settle: an editor may still be writing
            if await asyncio.to_thread(signature, self.paths) != now:
                continue  # still changing: look again next poll
            last = now
            changed = ", ".join(str(p) for p in self.paths)
            log.info("rule files changed under %s; reloading", changed)
            await reloader.offer(self.build, "files")
