"""A rule pack as one Kafka record: every file under the pack paths, with its relative path.

`screener rules publish` makes one (after compiling exactly what workers will compile), and
`--rules-source kafka` workers turn it back into files in a private directory and compile
those with the ordinary loader, so a published pack is validated, versioned and reported
(file:line) the same way as one on disk. The version is the compiled pack's content hash,
which does not depend on where the files were: the same pack has the same version from
either source.

Bounded on both sides (file count, bytes, path shape): a record is untrusted input.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from screener.rules import PackError, RulePack, load_packs
from screener.rules.pack import hidden

FORMAT = "screener-pack/1"
MAX_FILES = 1000
MAX_BYTES = 32 * 1024 * 1024
"""uncompressed total; the producer compresses (packs are text: typically to a quarter)."""


class BundleError(ValueError):
    """A record that is not a pack bundle this version can read (or is over the limits)."""


@dataclass(frozen=True)
class Bundle:
    roots: tuple[str, ...]
    """one per pack path given to `publish`, in order (each a directory in `files`)."""
    files: dict[str, str]
    """`root/relative/path` → text."""
    version: str = ""
    """the compiled pack's version, as the publisher computed it."""
    published_at: float = 0.0
    publisher: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return orjson.dumps(
            {"format": FORMAT, "version": self.version, "published_at": self.published_at,
             "publisher": self.publisher, "roots": list(self.roots), "files": self.files}
        )  # fmt: skip

    @classmethod
    def decode(cls, value: bytes) -> Bundle:
        if len(value) > MAX_BYTES * 2:
            raise BundleError(f"record of {len(value)} bytes is over the limit")
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BundleError(f"not a {FORMAT} record")
        roots, files = data.get("roots"), data.get("files")
        if not (isinstance(roots, list) and all(isinstance(r, str) for r in roots) and roots):
            raise BundleError("roots: expected a non-empty list of names")
        if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
            raise BundleError("files: expected an object of path → text")
        _check(roots, files)
        return cls(
            tuple(roots), files, str(data.get("version", "")),
            float(data.get("published_at", 0.0)), str(data.get("publisher", "")),
        )  # fmt: skip


def _check(roots: Iterable[str], files: dict[str, str]) -> None:
    if len(files) > MAX_FILES:
        raise BundleError(f"{len(files)} files (at most {MAX_FILES})")
    if sum(len(t.encode()) for t in files.values()) > MAX_BYTES:
        raise BundleError(f"more than {MAX_BYTES} bytes of files")
    names = set(roots)
    for name in files:
        parts = PurePosixPath(name).parts
        if (len(parts) < 2 or parts[0] not in names or name.startswith("/") or "\\" in name
                or any(p in ("", ".", "..") for p in parts)):  # fmt: skip
            raise BundleError(f"file path {name!r} is not a plain path under a root")


def collect(paths: Iterable[Path | str]) -> Bundle:
    """Read every regular file under the pack paths (lexicon files too), bounded."""
    roots: list[str] = []
    files: dict[str, str] = {}
    for i, raw in enumerate(paths):
        path = Path(raw)
        root = f"{i}-{path.name or 'pack'}"
        roots.append(root)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not hidden(p, path))
            members = [(p, p.relative_to(path).as_posix()) for p in found]
        elif path.is_file():
            members = [(path, path.name)]
        else:
            raise PackError([f"{path}:1: no such file or directory"])
        for file, rel in members:
            if len(files) >= MAX_FILES:
                raise PackError([f"{file}:1: more than {MAX_FILES} files in the pack paths"])
            try:
                files[f"{root}/{rel}"] = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PackError([f"{file}:1: cannot read: {exc}"]) from exc
    try:
        _check(roots, files)
    except BundleError as exc:
        raise PackError([f"{', '.join(map(str, paths))}:1: {exc}"]) from exc
    return Bundle(tuple(roots), files)


@contextmanager
def materialised(bundle: Bundle) -> Iterator[list[Path]]:
    """The bundle's files in a private temporary directory: the pack paths to load."""
    with tempfile.TemporaryDirectory(prefix="screener-pack-") as tmp:
        base = Path(tmp)
        for name, text in bundle.files.items():
            target = base / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for root in bundle.roots:
            (base / root).mkdir(exist_ok=True)
        yield [base / root for root in bundle.roots]


def compile_bundle(bundle: Bundle, origin: str | dict[str, str]) -> RulePack:
    """Compile a bundle as the loader compiles files. Problems name `origin/root/path:line`,
    or, with a mapping root → original path, the file the publisher read."""
    with materialised(bundle) as paths:
        base = str(paths[0].parent) + os.sep
        try:
            return load_packs(paths)
        except PackError as exc:
            problems = exc.problems
            if isinstance(origin, str):
                problems = [p.replace(base, f"{origin}/") for p in problems]
            else:
                for root, original in origin.items():
                    problems = [p.replace(f"{base}{root}", original) for p in problems]
            raise PackError(problems) from exc


def publishable(paths: Iterable[Path | str], publisher: str) -> tuple[Bundle, RulePack]:
    """Collect and compile, as a worker will: a pack that would be refused is not published."""
    paths = list(paths)
    collected = collect(paths)
    names = {}
    for root, raw in zip(collected.roots, paths, strict=True):
        path = Path(raw)
        names[root] = str(path) if path.is_dir() else str(path.parent)
    pack = compile_bundle(collected, names)
    bundle = Bundle(collected.roots, collected.files, pack.version, time.time(), publisher)
    return bundle, pack
