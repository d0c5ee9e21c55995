"""Render the README's reliability table from the fault suite's and the fuzzer's summaries.

    python tests/reliability/report.py [build/reliability]

prints Markdown: one row per fault and guarantee (times injected, records sent while it ran,
lost, duplicated, recovery time), then the fuzzing line (hostile inputs, crashes, longest
time per input, peak memory).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def fault_rows(data: dict[str, Any]) -> list[str]:
    rows = [
        "| fault | guarantee | injected | records sent | lost | duplicated "
        "| recovery (median / max) |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for mode, run in data.get("runs", {}).items():
        for f in run["faults"]:
            rows.append(
                f"| {f['fault']} | {mode} | {f['injected']} | {f['records_sent']:,} | "
                f"{f['lost']} | {f['duplicated']} | "
                f"{f['recovery_s_median']:.1f} s / {f['recovery_s_max']:.1f} s |"
            )
    for mode, run in data.get("runs", {}).items():
        t = run["totals"]
        injected = sum(f["injected"] for f in run["faults"])
        rows.append(
            f"| **whole run** ({run['seconds']:.0f} s, seed {run['seed']}) | {mode} | "
            f"{injected} | {t['records_sent']:,} | {t['lost']} | {t['duplicated']} | "
            f"{t['committed_ahead']} commits ahead of output in {t['ahead_checks']} checks |"
        )
    return rows


def fuzz_rows(data: dict[str, Any]) -> list[str]:
    rows = [
        "| fuzz target | hostile inputs | crashes | longest per input (CPU) |",
        "|---|--:|--:|--:|",
    ]
    for target, count in data.get("inputs", {}).items():
        crashes = data.get("crashes", {}).get(target, "?")
        rows.append(
            f"| {target} | {count:,} | {crashes} | {data['longest_s'][target] * 1000:.0f} ms |"
        )
    rows.append(
        f"| **all** (limit {data.get('per_input_cpu_limit_s', 0):.0f} CPU s per input, "
        f"peak RSS {data.get('peak_rss_mib', 0):.0f} MiB) | {data.get('total_inputs', 0):,} "
        f"| {sum(data.get('crashes', {}).values())} "
        f"| {max(data.get('longest_s', {0: 0}).values()) * 1000:.0f} ms |"
    )
    return rows


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else "build/reliability")
    out: list[str] = []
    faults, fuzz = folder / "faults.json", folder / "fuzz.json"
    if faults.exists():
        out += fault_rows(json.loads(faults.read_text()))
    if fuzz.exists():
        out += ["", *fuzz_rows(json.loads(fuzz.read_text()))]
    if not out:
        print(
            f"no summaries in {folder}; run the fault suite and the fuzzer first", file=sys.stderr
        )
        return 1
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
