"""Labelled training data: TSV, CSV or JSONL files → (text, class) pairs.

How a platform trains on its own moderation decisions: export them as one of these formats
(a text column and a label column), say which labels mean which category (`--map`), and
`screener train` fits a model the packs can use. Files are read with limits (size, rows,
field size); a row whose label maps to `-` or to nothing known is skipped and counted.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from screener.measure.holdout import select
from screener.regular_files import Unreadable, read_regular

MAX_FILE_BYTES = 1 << 30
MAX_FIELD_CHARS = 1 << 20
MAX_ROWS = 5_000_000
DROP = "-"

# What the labels of the corpora `screener eval` knows mean, for files named like them.
# (COLD's and SWSR's offensive rows are opinions about groups, not the insults the `abuse`
# category means: by default they are left out of training rather than taught as abuse.)
KNOWN_LABELS: dict[str, dict[str, str]] = {
    "chineseharm": {"fine": "benign", "porn": "porn", "gambling": "gambling",
                    "fraud": "fraud", "illicit_ads": "illicit_ads", "abuse": "abuse"},
    "cn_sms_spam": {"0": "benign", "1": DROP},
    "en_sms_spam": {"ham": "benign", "spam": DROP},
    "cold": {"0": "benign", "1": DROP},
    "swsr": {"0": "benign", "1": DROP},
}  # fmt: skip


class DataError(ValueError):
    """A training file that cannot be read as labelled rows."""


@dataclass(frozen=True)
class Labelled:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """label → rows left out (mapped to `-` or unknown)."""


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    text: str


def _known(path: Path) -> Mapping[str, str]:
    name = path.name.lower()
    keys = [k for k in KNOWN_LABELS if name.startswith(k)]
    return KNOWN_LABELS[max(keys, key=len)] if keys else {}


def _pick(header: Sequence[str], wanted: str | None, default: str, fallback: int) -> int:
    """The column named by `wanted` (comma-separated candidates: the first present wins)."""
    if wanted is not None:
        for name in wanted.split(","):
            if name in header:
                return list(header).index(name)
        raise DataError(f"no column {wanted!r} (columns: {', '.join(header)})")
    return list(header).index(default) if default in header else fallback % len(header)


def read_rows(
    path: Path, text_column: str | None = None, label_column: str | None = None
) -> list[_Row]:
    """Rows of a TSV/CSV (header row) or JSONL file, by column name."""
    try:  # a regular file only: a FIFO or device named as data would block a read
        raw = read_regular(path, MAX_FILE_BYTES)
    except Unreadable as exc:
        raise DataError(f"{path}: {exc}") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from None
    rows: list[_Row] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        tkeys = (text_column or "text").split(",")
        lkeys = (label_column or "label").split(",")
        for lineno, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: bad JSON: {exc}") from None
            tkey = next((k for k in tkeys if isinstance(obj, dict) and k in obj), tkeys[0])
            lkey = next((k for k in lkeys if isinstance(obj, dict) and k in obj), lkeys[0])
            if not isinstance(obj, dict) or not isinstance(obj.get(tkey), str):
                raise DataError(f"{path}:{lineno}: want an object with a string {tkey!r}")
            rows.append(_Row(str(obj.get(lkey, "")), obj[tkey][:MAX_FIELD_CHARS]))
            if len(rows) > MAX_ROWS:
                raise DataError(f"{path}: more than {MAX_ROWS} rows")
        return rows
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    csv.field_size_limit(MAX_FIELD_CHARS)
    stream = io.StringIO(content, newline="")
    reader = (
        csv.reader(stream) if delimiter == ","
        else csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
    )  # fmt: skip
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty file") from None
    except csv.Error as exc:
        raise DataError(f"{path}:1: {exc}") from None
    ti = _pick(header, text_column, "text", -1)
    li = _pick(header, label_column, "label", 0)
    try:
        for record in reader:
            if len(record) <= max(ti, li):
                continue
            rows.append(_Row(record[li].strip(), record[ti]))
            if len(rows) > MAX_ROWS:
                raise DataError(f"{path}: more than {MAX_ROWS} rows")
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: {exc}") from None
    return rows


def load_labelled(
    paths: Sequence[Path],
    mapping: Mapping[str, str] | None = None,
    *,
    part: str = "all",
    text_column: str | None = None,
    label_column: str | None = None,
    max_rows_per_file: int | None = None,
) -> Labelled:
    """(text, class) pairs of several files.

    `mapping` (label → class, `-` drops) wins over the labels known for files named like the
    evaluation corpora; other labels are dropped. A file with neither keeps its labels as
    the classes (`benign` for what is fine).
    """
    out = Labelled()
    for path in paths:
        known = {**_known(path), **(mapping or {})}
        taken = 0
        for row in select(read_rows(path, text_column, label_column), part):
            cls = known.get(row.label) if known else row.label
            if cls is None or cls == DROP or not row.text.strip():
                out.skipped[row.label] += 1
                continue
            if max_rows_per_file is not None and taken >= max_rows_per_file:
                break
            out.texts.append(row.text)
            out.labels.append(cls)
            taken += 1
    return out


def pack_examples(pack: object) -> Labelled:
    """A pack's own text examples: `match` → the rule's category, `no_match` → benign."""
    out = Labelled()
    for rule in getattr(pack, "rules", ()):
        if rule.examples is None:
            continue
        for ex in rule.examples.match:
            if isinstance(ex, str):
                out.texts.append(ex)
                out.labels.append(rule.category)
        for ex in rule.examples.no_match:
            if isinstance(ex, str):
                out.texts.append(ex)
                out.labels.append("benign")
    return out
