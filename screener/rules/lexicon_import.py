"""`screener lexicon import`: plain word lists → lexicon files a pack can load.

Input: one term a line, or `term<TAB>tags` (tags split on `|` or `,`; a tag `porn/色情` also
answers to `porn`), in UTF-8, UTF-16 (with BOM) or GBK/GB18030. Terms are normalised the way
the engine matches them (the compact folded view), de-duplicated on that form, and mapped to
categories by `--map TAG=CATEGORY`. Then precision is measured: every term is matched against
benign corpora (`--benign FILE`: the benign rows of the *tune* part of labelled files — the
held part stays unseen, as for every other tuning step) and a term that fires on more than
`--max-benign-rate` of them is *demoted* to a weak signal: such words (色情, 约, 代理 …) still
carry evidence next to a contact id or a price, so a list keeps them apart instead of losing
them. Only a term that fires on more than `DROP_RATE` of benign messages is dropped.
Output: `OUT_DIR/<category>.txt` (strong terms, `term<TAB>category`),
`OUT_DIR/<category>.weak.txt` (weak terms), `OUT_DIR/imported.yaml` (a pack fragment: a strong
term flags alone, a weak one only with a contact, a price or a strong term) and
`OUT_DIR/report.tsv` (every demotion and drop with its reason).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 64 << 20
MAX_TERMS = 1_000_000
MAX_TERM_CHARS = 50
DROP_RATE = 0.005
"""A term on more than 0.5% of benign messages is too common to be evidence even with others."""
BENIGN_PART = "tune"
"""The part of each `--benign` file read: never the held part `screener eval` reports on."""
WEAK = "weak"


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


@dataclass(frozen=True)
class Imported:
    strong: dict[str, list[str]] = field(default_factory=dict)
    """category → terms that flag on their own."""
    weak: dict[str, list[str]] = field(default_factory=dict)
    """category → terms demoted for firing on benign text: evidence only with other evidence."""
    report: list[tuple[str, str, str]] = field(default_factory=list)
    """(term, `weak` or `dropped`, why)."""


def import_terms(
    terms: Sequence[tuple[str, tuple[str, ...]]],
    mapping: dict[str, str],
    benign: Sequence[str],
    max_benign_rate: float,
    drop_rate: float = DROP_RATE,
) -> Imported:
    """Normalise, de-duplicate, map and grade `terms` by how often they fire on `benign`."""
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
    out = Imported(report=[(t, "dropped", why) for t, why in dropped])
    hits = _benign_hits(Engine, load_packs, list(kept), benign) if kept and benign else Counter()
    weak_limit, drop_limit = max_benign_rate * len(benign), drop_rate * len(benign)
    for term, (category, _) in kept.items():
        n = hits.get(term, 0)
        rate = 100 * n / max(len(benign), 1)
        fires = f"fires on {n} of {len(benign)} benign messages ({rate:.2f}%"
        if n > drop_limit:
            out.report.append((term, "dropped", f"{fires}, over {100 * drop_rate:g}%)"))
        elif n > weak_limit:
            why = f"{fires}, over {100 * max_benign_rate:g}%): only with other evidence"
            out.report.append((term, WEAK, why))
            out.weak.setdefault(category, []).append(term)
        else:
            out.strong.setdefault(category, []).append(term)
    return out


def pack_fragment(imported: Imported) -> str:
    """A pack file using the imported lists: strong terms flag alone (score 6), weak terms only
    with a contact (channel, id, call to action) or a price. It reads the
    `has_contact` / `has_price` macros, so it loads together with the shipped packs."""
    lines = ["# Written by `screener lexicon import`; load it together with the shipped packs",
             "# (it uses their has_contact / has_price macros).", "lexicons:"]  # fmt: skip
    rules = ["rules:"]
    for category in sorted(set(imported.strong) | set(imported.weak)):
        strong = f"imported_{category}"
        if category in imported.strong:
            lines.append(f"  {strong}: {{file: {category}.txt}}")
            rules += [
                f"  - id: imported.{category}",
                f"    category: {category}",
                "    score: 6",
                f"    condition: hit({strong}) and not news_or_warning",
            ]
        if category in imported.weak:
            lines.append(f"  {strong}_weak: {{file: {category}.weak.txt}}")
            rules += [f"  - id: imported.{category}.weak", f"    category: {category}",
                      "    score: 6", f"    condition: hit({strong}_weak) and (has_contact or "
                      "has_price) and not news_or_warning"]  # fmt: skip
    return "\n".join(lines + rules) + "\n"


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
        rows = load_labelled(args.benign, part=BENIGN_PART) if args.benign else None
    except (ImportError_, DataError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    pairs = zip(rows.texts, rows.labels, strict=True) if rows else iter(())
    benign = [t for t, c in pairs if c == "benign"]
    imported = import_terms(terms, mapping, benign, args.max_benign_rate)
    args.out.mkdir(parents=True, exist_ok=True)
    for suffix, lists in ((".txt", imported.strong), (".weak.txt", imported.weak)):
        for category, words in sorted(lists.items()):
            text = "".join(f"{w}\t{category}\n" for w in words)
            (args.out / f"{category}{suffix}").write_text(text, encoding="utf-8")
    if imported.strong or imported.weak:
        (args.out / "imported.yaml").write_text(pack_fragment(imported), encoding="utf-8")
    report = "".join(f"{t}\t{what}\t{why}\n" for t, what, why in imported.report)
    (args.out / "report.tsv").write_text("term\toutcome\tbecause\n" + report, encoding="utf-8")
    reasons = Counter(
        f"{what}: fires on benign" if why.startswith("fires") else " ".join(why.split()[:2])
        for _, what, why in imported.report
    )
    strong = sum(map(len, imported.strong.values()))
    weak = sum(map(len, imported.weak.values()))
    print(f"{strong} strong and {weak} weak terms in "
          f"{len(set(imported.strong) | set(imported.weak))} categories "
          f"(benign check: {len(benign)} tune-part messages); "
          f"{', '.join(f'{k} {n}' for k, n in reasons.most_common())}; "
          f"report: {args.out / 'report.tsv'}")  # fmt: skip
    return 0
