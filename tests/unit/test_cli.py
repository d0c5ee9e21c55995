"""The command line as users run it: `python -m screener …` in a subprocess."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACK = Path(__file__).parent / "packs" / "basic.yaml"


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "screener", *args], input=stdin, capture_output=True,
        timeout=120, cwd=ROOT,
    )  # fmt: skip


def test_shipped_packs_check_and_their_examples_pass() -> None:
    check = run("rules", "check", "seeds/rules")
    assert check.returncode == 0, check.stderr.decode()
    assert b"ok:" in check.stdout
    test = run("rules", "test", "seeds/rules")
    assert test.returncode == 0, test.stdout.decode()[-3000:]
    assert b" 0 failed" in test.stdout


def test_broken_pack_fails_with_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - id: a\n    category: porn\n    condition: hit(nothing)\n")
    result = run("rules", "check", str(broken))
    assert result.returncode != 0
    assert f"{broken}:4: rule a: condition: undefined lexicon 'nothing'".encode() in result.stderr


def test_scan_streams_verdicts_in_input_order_with_errors_for_bad_lines() -> None:
    good = {"kind": "chat", "id": "c-1", "ts": 0, "user": {"id": "u"}, "text": "约炮 加 V信"}
    stdin = b"\n".join(
        [orjson.dumps(good), b"{broken", b"", orjson.dumps({**good, "id": "c-2", "text": "hi"}),
         b"\xff\xfe", b'{"kind": "chat"}', b"x" * 1_100_000]
    ) + b"\n"  # fmt: skip
    result = run("scan", "--rules", str(PACK), stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [v["event_id"] for v in lines] == ["c-1", None, "c-2", None, None, None]
    assert lines[0]["flagged"] and lines[0]["category"] == "solicitation"
    assert not lines[2]["flagged"]
    errors = [(v["line"], v["error"].split(":")[0]) for v in lines if "error" in v]
    assert errors == [(2, "bad_json"), (5, "bad_utf8"), (6, "schema"), (7, "too_large")]


def test_scan_of_invalid_lines_only_answers_each_with_its_error() -> None:
    """With the shipped packs (behaviour on), a batch in which no line is an event is
    screened without state: it used to end the run with a ValueError."""
    result = run("scan", stdin=b"not json\n{broken\n")
    assert result.returncode == 0, result.stderr.decode()
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(v["line"], v["error"].split(":")[0]) for v in lines] == [
        (1, "bad_json"),
        (2, "bad_json"),
    ]


def test_scan_text_mode_from_files() -> None:
    result = run("scan", "--text", "--rules", str(PACK), stdin="约炮加V信\n今天天气不错\n".encode())
    verdicts = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(v["event_id"], v["flagged"]) for v in verdicts] == [("1", True), ("2", False)]
    m = verdicts[0]["findings"][0]["matches"][0]
    assert "约炮加V信"[m["start"] : m["end"]] == m["text"]


def test_scan_uses_the_shipped_packs_by_default(tmp_path: Path) -> None:
    events = ROOT / "seeds" / "events" / "chat.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "screener", "scan", str(events)], capture_output=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    verdicts = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(verdicts) == sum(1 for line in events.read_bytes().splitlines() if line.strip())
    assert any(v["flagged"] for v in verdicts) and not all(v["flagged"] for v in verdicts)
    assert all("error" not in v for v in verdicts)


@pytest.mark.parametrize("target", ["engine", "matchers"])
def test_bench_runs_and_reports_rates(target: str) -> None:
    result = run("bench", target, "--messages", "3000", "--lexicon-size", "3000",
                 "--baseline-messages", "1000", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    report = orjson.loads(result.stdout)
    if target == "engine":
        assert report["engine"]["msgs_per_s"] > 0 and report["baseline"]["msgs_per_s"] > 0
        assert report["lexicon_terms"] >= 3000
    else:
        hits = {row["hits"] for row in report["results"]}
        assert len(hits) == 1, report  # every matcher finds the same occurrences


def test_scan_streams_before_input_ends() -> None:
    """Verdicts come out while input is still open: bounded batches, constant memory."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "screener", "scan", "--text", "--rules", str(PACK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("约炮加V信\n".encode() * 3000)  # more than one batch
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no verdict while the input was still open"
        first = orjson.loads(proc.stdout.readline())
        assert first["event_id"] == "1" and first["flagged"]
        assert proc.poll() is None  # still waiting for the rest of the input
    finally:
        proc.stdin.close()
        rest = proc.stdout.read().splitlines()
        proc.wait(60)
    assert len(rest) == 2999
