"""`screener demo`, the README's main job: embedded broker, sample traffic, worker, summary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_screens_the_sample_traffic_and_sends_broken_records_to_the_dlq() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "screener", "demo", "--duration", "12", "--rate", "1000",
         "--metrics-port", "0"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    done = re.search(r"demo done: ([\d,]+) consumed, ([\d,]+) flagged, ([\d,]+) to the DLQ",
                     result.stdout)  # fmt: skip
    assert done, result.stdout[-2000:]
    consumed, flagged, dlq = (int(g.replace(",", "")) for g in done.groups())
    assert consumed > 0 and 0 < flagged < consumed and dlq > 0
