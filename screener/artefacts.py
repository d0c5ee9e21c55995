"""A local cache of compiled artefacts (Hyperscan databases), keyed by what they are built from.

Compiling the shipped packs' regex prefilter takes ~0.9 s of CPU, most of a pack's compile
time; a reload or a CLI start with the same patterns can load the serialised database in
~1 ms instead. Entries are Hyperscan's own serialisation (never pickle), named by the SHA-256
of everything they are built from (patterns, flags, library version, machine) and stored with
the SHA-256 of their bytes, checked before use. The cache is only an optimisation: any problem
(unwritable, read-only root filesystem, a damaged entry) means "compile again".

Where: `SCREENER_CACHE_DIR`, else `$XDG_CACHE_HOME/screener`, else `~/.cache/screener`;
`SCREENER_CACHE_DIR=off` (or empty) disables it. The directory is created private (0700) and
used only if it is a real directory owned by this user and writable by no one else.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import stat
from pathlib import Path

CACHE_ENV = "SCREENER_CACHE_DIR"
_log = logging.getLogger(__name__)
MAX_ENTRY_BYTES = 256_000_000
KEEP_PER_KIND = 32
"""Entries kept per kind (oldest removed): a reload per hour keeps the last day's packs."""
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KEY = re.compile(r"^[0-9a-f]{64}$")


def content_key(*parts: bytes | str) -> str:
    """A cache key: SHA-256 over length-prefixed parts (no two part lists collide)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class ArtefactCache:
    """Get/put blobs by (kind, key); `ArtefactCache(None)` caches nothing."""

    def __init__(self, root: Path | None):
        self.root = root

    @classmethod
    def default(cls) -> ArtefactCache:
        env = os.environ.get(CACHE_ENV)
        if env is not None:
            return cls(None if env.strip() in ("", "off", "0") else Path(env))
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return cls(Path(base) / "screener")

    def _dir(self, kind: str, create: bool) -> Path | None:
        if self.root is None or not _NAME.match(kind):
            return None
        path = self.root / kind
        try:
            if create:
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            for d in (self.root, path):
                info = os.lstat(d)
                private = info.st_uid == os.getuid() and not info.st_mode & 0o022
                if not stat.S_ISDIR(info.st_mode) or not private:
                    return None
        except OSError as exc:
            if create:
                _unwritable(str(self.root), exc.strerror or type(exc).__name__)
            return None
        return path

    def get(self, kind: str, key: str) -> bytes | None:
        """The stored bytes, if present and intact."""
        where = self._dir(kind, create=False)
        if where is None or not _KEY.match(key):
            return None
        try:
            flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(where / key, flags)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES + 32:
                return None
            with os.fdopen(os.dup(fd), "rb") as f:
                blob = f.read(MAX_ENTRY_BYTES + 33)
        except OSError:
            return None
        finally:
            os.close(fd)
        digest, data = blob[:32], blob[32:]
        return data if hashlib.sha256(data).digest() == digest else None

    def put(self, kind: str, key: str, data: bytes) -> None:
        """Store atomically (write aside, rename); silently nothing if that fails."""
        where = self._dir(kind, create=True)
        if where is None or not _KEY.match(key) or len(data) > MAX_ENTRY_BYTES:
            return
        tmp = where / f".{key}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.sha256(data).digest())
                f.write(data)
            os.replace(tmp, where / key)
            self._prune(where)
        except OSError as exc:
            _unwritable(str(self.root), exc.strerror or type(exc).__name__)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    @staticmethod
    def _prune(where: Path) -> None:
        entries = [p for p in where.iterdir() if _KEY.match(p.name)]
        if len(entries) <= KEEP_PER_KIND:
            return
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP_PER_KIND:]:
            old.unlink(missing_ok=True)


@functools.lru_cache(maxsize=64)
def _unwritable(root: str, reason: str) -> None:
    """Say once per process, directory and reason that nothing is cached (a read-only root
    filesystem, say): every start then compiles cold, which is slower but correct."""
    _log.warning(
        "artefact cache %s is not writable (%s); compiling without it (set %s to a writable "
        "directory, or to off)", root, reason, CACHE_ENV,
    )  # fmt: skip
