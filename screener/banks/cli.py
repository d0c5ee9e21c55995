"""`screener bank build` and the behaviour benchmarks (`screener bench bank|state|campaigns`).

Their arguments are declared in `screener.cli.assets` and `screener.cli.measure`; the logic
stays here, next to what it runs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from screener.banks.bank import BankError, parse_lines, write_bank

MAX_IMAGE_BYTES = 64 * 1024 * 1024


def _read_lists(paths: list[str], kind: str | None) -> tuple[set[str], set[str], dict[str, str]]:
    sha: set[str] = set()
    pdq: set[str] = set()
    labels: dict[str, str] = {}
    for name in paths:
        text = Path(name).read_text(encoding="utf-8")
        lines = text.splitlines()
        if kind is not None:  # bare hex lists: prefix each line with the kind given
            lines = [
                ln if not ln.strip() or ln.lstrip().startswith("#") or ":" in ln.split("\t")[0]
                else f"{kind}:{ln.strip()}"
                for ln in lines
            ]  # fmt: skip
        s, p, lab = parse_lines(lines, name)
        sha.update(k.hex() for k in s)
        pdq.update(p)
        labels.update({h: t for h, t in zip(p, lab, strict=True) if t})
        labels.update({k.hex(): t for k, t in s.items() if t})
    return sha, pdq, labels


def _image_hashes(paths: list[str]) -> tuple[set[str], set[str]]:
    """SHA-256 of each file, and its PDQ hash when the optional `pdqhash` package is there."""
    sha: set[str] = set()
    pdq: set[str] = set()
    try:
        import numpy as np
        import pdqhash  # type: ignore[import-not-found]
        from PIL import Image
    except ImportError:
        pdqhash = None
    for name in paths:
        data = Path(name).read_bytes()
        if len(data) > MAX_IMAGE_BYTES:
            raise BankError(f"{name}: image over {MAX_IMAGE_BYTES} bytes")
        sha.add(hashlib.sha256(data).hexdigest())
        if pdqhash is not None:
            image = np.asarray(Image.open(name).convert("RGB"))
            bits, _quality = pdqhash.compute(image)
            pdq.add(np.packbits(bits.astype(np.uint8)).tobytes().hex())
    return sha, pdq


def cmd_bank(args: argparse.Namespace) -> int:
    try:
        sha, pdq, labels = _read_lists(args.lists, args.kind)
        if args.images:
            s, p = _image_hashes(args.images)
            sha |= s
            pdq |= p
        count = write_bank(args.output, sha, pdq, labels)
    except (OSError, UnicodeDecodeError, BankError) as exc:
        print(f"screener bank: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: {count} hashes ({len(sha)} sha256, {len(pdq)} pdq)", file=sys.stderr)
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """`screener bench bank|state|campaigns`."""
    console = Console(stderr=True)
    result: Any
    if args.target == "bank":
        from screener.banks import bench

        result = bench.run(args.size, args.queries, args.distance, args.sample)
        console.print(
            f"PDQ bank of {result.bank:,} hashes, radius {result.radius}: "
            f"{result.near_per_second:,.0f} lookups/s for queries within the radius "
            f"({result.near_per_cpu_second:,.0f} per CPU-second), "
            f"{result.random_per_second:,.0f} for random ones "
            f"({result.random_per_cpu_second:,.0f}); found {result.found:,} of "
            f"{result.queries:,}; brute force on {result.sample} of each agrees: "
            f"{result.sample_agrees}; index built in {result.build_seconds:.1f} s, "
            f"{result.index_mb:,.0f} MB; {result.small_batch_per_second:,.0f} lookups/s in "
            f"batches of {bench.SMALL_BATCH} (random); index: {result.backend}"
        )
    elif args.target == "state":
        from screener.state import bench as state_bench

        result = state_bench.run(args.users, args.capacity)
        console.print(
            f"{result.users:,} users streamed: peak RSS {result.peak_rss_mb:,.0f} MB, "
            f"{result.keys:,} resident, {result.evictions:,} evicted; full changelog "
            f"{result.changelog_records:,} records ({result.changelog_mb:,.0f} MB) restored in "
            f"{result.restore_seconds:.1f} s"
        )
    else:
        from screener.campaigns.measure import measure, unrelated_texts
        from screener.rules.pack import load_packs
        from screener.shipped import default_packs

        pack = load_packs([default_packs()])
        unrelated = unrelated_texts(Path(args.unrelated) if args.unrelated else None, 20_000, 3)
        result = measure(pack.folding, unrelated=unrelated)
        for r in result:
            console.print(
                f"{r.name:12} campaign copies seen: median {r.campaign_median:.0f} (p10 "
                f"{r.campaign_p10:.0f}) of 100; unrelated p99 {r.unrelated_p99:.0f}, max "
                f"{r.unrelated_max}; {r.us_per_message:.1f} µs/msg"
            )
    if args.json:
        import orjson

        rows = [asdict(r) for r in result] if isinstance(result, list) else asdict(result)
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
    return 0
