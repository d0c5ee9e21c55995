"""Reading a file that a user names, without letting it block or exhaust memory.

Every loader of untrusted paths (rule packs and lexicons, model files, training data) reads
through `read_regular`: opened with O_NONBLOCK so a FIFO or device cannot block the open;
checked to be a regular file with fstat on the open descriptor (no race with a swapped path);
read with a cap so a file that grows while read cannot exhaust memory. A `stat().st_size`
check alone passes a FIFO (size 0), whose read then blocks forever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class Unreadable(ValueError):
    """Why the file was not read (the message names the path)."""


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes` bytes, or `Unreadable`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{path} is not a regular file")
        if info.st_size > max_bytes:
            raise Unreadable(f"{path} is {info.st_size} bytes, over the {max_bytes} limit")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise Unreadable(f"{path} grew over the {max_bytes} byte limit while read")
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return b"".join(chunks)
