"""`screener lexicon import`: plain word lists → lexicon files a pack can load.

Input: one term a line, or `term<TAB>tags` (tags split on `|` or `,`; a tag `porn/色情` also
answers to `porn`), in UTF-8, UTF-16 (with BOM) or GBK/GB18030. Terms are normalised the way
the engine matches them (the compact folded view), de-duplicated on that form, and mapped to
categories by `--map TAG=CATEGORY`. Then precision is measured: every term is matched against
benign corpora (`--benign FILE`, the benign rows of labelled files) and a term that fires on
more than `--max-benign-rate` of them is dropped. Every drop is reported with its reason.
Output: `OUT_DIR/<category>.txt` (`term<TAB>category`) and `OUT_DIR/report.tsv`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_BYTES = 64 << 20
MAX_TERMS = 1_000_000
MAX_TERM_CHARS = 50


class ImportError_(ValueError):
    """A word list that cannot be imported."""


def decode(raw: bytes) -> str:
    """UTF-16/UTF-8 by BOM, else UTF-8, else GB18030 (a superset of GBK)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportError_("neither UTF-8, UTF-16 nor GBK")


def read_terms(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ImportError_(f"{path}: {size} bytes, over the {MAX_BYTES}-byte limit")
    out: list[tuple[str, tuple[str, ...]]] = []
    for line in decode(path.read_bytes()).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, _, rest = line.partition("\t")
        tags = tuple(t.strip() for t in rest.replace("|", ",").split(",") if t.strip())
        out.append((term.strip(), tags))
        if len(out) > MAX_TERMS:
            raise ImportError_(f"{path}: more than {MAX_TERMS} terms")
    return out


def _category(tags: Sequence[str], mapping: dict[str, str]) -> str | None:
    for tag in tags:
        for key in (tag, tag.split("/", 1)[0]):
            if key in mapping:
                return mapping[key]
    return mapping.get("*")


def import_terms(
    terms: Sequence[tuple[str, tuple[str, ...]]],
    mapping: dict[str, str],
    benign: Sequence[str],
    max_benign_rate: float,
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """(category → kept terms, [(term, why dropped)])."""
    from screener.engine import Engine
    from screener.rules import load_packs
    from screener.text.folding import build_folding
    from screener.text.views import normalize

    folding = build_folding()
    dropped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    kept: dict[str, tuple[str, str]] = {}
    for term, tags in terms:
        if len(term) > MAX_TERM_CHARS:
            dropped.append((term, f"longer than {MAX_TERM_CHARS} characters"))
            continue
        key = normalize(folding, term).text
        if not key:
            dropped.append((term, "no letters or digits"))
        elif len(key) < 2:
            dropped.append((term, "a single character matches too much"))
        elif key in seen:
            dropped.append((term, f"duplicate of {seen[key]!r} after normalisation"))
        elif (category := _category(tags, mapping)) is None:
            dropped.append((term, f"no category for tags {','.join(tags) or '(none)'}"))
        else:
            seen[key] = term
            kept[term] = (category, key)
    if kept and benign:
        hits = _benign_hits(Engine, load_packs, list(kept), benign)
        limit = max_benign_rate * len(benign)
        for term, n in hits.items():
            if n > limit and term in kept:
                del kept[term]
                dropped.append((term, f"fires on {n} of {len(benign)} benign messages"))
    out: dict[str, list[str]] = {}
    for term, (category, _) in kept.items():
        out.setdefault(category, []).append(term)
    return out, dropped


def _benign_hits(
    engine_cls: Any, load: Any, terms: list[str], benign: Sequence[str]
) -> Counter[str]:
    """How many benign messages each term fires on (one lexicon, one rule, the real engine)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "terms.txt").write_text("\n".join(terms) + "\n", encoding="utf-8")
        (Path(tmp) / "p.yaml").write_text(
            "lexicons:\n  imported: {file: terms.txt}\nrules:\n  - id: imported\n"
            "    category: x\n    score: 1\n    condition: hit(imported)\n", encoding="utf-8",
        )  # fmt: skip
        engine = engine_cls(load([Path(tmp) / "p.yaml"]))
    counts: Counter[str] = Counter()
    for lo in range(0, len(benign), 4096):
        for verdict in engine.screen_texts(list(benign[lo : lo + 4096])):
            counts.update({m.term for f in verdict.findings for m in f.matches})
    return counts


def cmd_import(args: argparse.Namespace) -> int:
    from screener.model.data import DataError, load_labelled

    mapping = dict(item.split("=", 1) for item in args.map if "=" in item)
    try:
        terms = [t for f in args.files for t in read_terms(f)]
        rows = load_labelled(args.benign) if args.benign else None
    except (ImportError_, DataError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    pairs = zip(rows.texts, rows.labels, strict=True) if rows else iter(())
    benign = [t for t, c in pairs if c == "benign"]
    kept, dropped = import_terms(terms, mapping, benign, args.max_benign_rate)
    args.out.mkdir(parents=True, exist_ok=True)
    for category, words in sorted(kept.items()):
        text = "".join(f"{w}\t{category}\n" for w in words)
        (args.out / f"{category}.txt").write_text(text, encoding="utf-8")
    report = "".join(f"{t}\t{why}\n" for t, why in dropped)
    (args.out / "report.tsv").write_text("term\tdropped because\n" + report, encoding="utf-8")
    reasons = Counter(
        "fires on benign" if why.startswith("fires") else " ".join(why.split()[:2])
        for _, why in dropped
    )
    print(f"{sum(map(len, kept.values()))} terms kept in {len(kept)} categories; "
          f"{len(dropped)} dropped ({', '.join(f'{k} {n}' for k, n in reasons.most_common())}); "
          f"report: {args.out / 'report.tsv'}")  # fmt: skip
    return 0
