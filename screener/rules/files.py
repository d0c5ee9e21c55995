"""Reading the files a pack names, as untrusted input: confined, regular, bounded.

A pack may name lexicon files (`file: terms.txt`). Without care that reads `/etc/passwd`
(`../../..`, absolute paths, symlinks out), grows without bound on `/dev/zero`, or blocks for
ever on a FIFO. So a named file must resolve (symlinks followed) inside the directory of the
pack that names it, unless the operator allows more (`--allow-external-files`); it is opened
non-blocking, must be a regular file, and is read up to a byte cap. Every refusal is a
`PackError` line `file:line: reason`.
"""

from __future__ import annotations

import os
from pathlib import Path

from screener.regular_files import Unreadable, read_regular
from screener.rules.errors import PackError

ALLOW_EXTERNAL_ENV = "SCREENER_RULES_ALLOW_EXTERNAL"
"""Set to 1 to let packs read files outside their own directory (same as the CLI flag)."""


def allow_external_default() -> bool:
    return os.environ.get(ALLOW_EXTERNAL_ENV, "") not in ("", "0")


_HOW = "--allow-external-files allows it"


def confined(base: Path, name: str, where: str, *, allow_external: bool) -> Path:
    """`name` (as written in a pack at `where`) resolved against the pack's directory `base`."""
    raw = Path(name)
    path = (base / raw).resolve()
    if allow_external:
        return path
    if raw.is_absolute():
        reason = "is an absolute path; a pack reads only files in its own directory"
    elif ".." in raw.parts:
        reason = "leaves the pack's directory ('..')"
    elif not path.is_relative_to(base.resolve()):
        reason = f"resolves to {path}, outside the pack's directory (a symlink?)"
    else:
        return path
    raise PackError([f"{where}: {name!r} {reason}; {_HOW}"])


def read_text(path: Path, max_bytes: int, where: str | None = None) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes` bytes.

    Read by `screener.regular_files.read_regular`: a FIFO or device cannot block the open, the
    file must be regular (fstat on the open descriptor), and the read is capped.
    """
    at = where or f"{path}:1"
    try:
        data = read_regular(path, max_bytes)
    except Unreadable as exc:
        raise PackError([f"{at}: {exc}"]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PackError([f"{path}:{line}: not UTF-8 (byte {exc.start})"]) from exc
