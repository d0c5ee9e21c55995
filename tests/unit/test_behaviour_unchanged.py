"""Refactoring proof: verdicts over fixed inputs are byte-identical to a recorded baseline.

The baseline (`tests/fixtures/behaviour/digests.json`) was recorded by running this file with
`--update` on the code *before* a restructuring; the test then shows the restructured code
screens the same inputs into the same bytes. Inputs are frozen next to the digests (a copy of
the sample events and of the rule packs as they were), so changing the shipped packs or
samples does not move the baseline; only a change in how events are screened does. The 30k
corpus comes from `screener generate` (seed 1); its own digest is recorded too, so a change to
the generator is reported as that and not as a change in screening.

A deliberate change in screening (new normalisation, a matcher fix) re-records the baseline:

    python tests/unit/test_behaviour_unchanged.py --update
"""

from __future__ import annotations

import hashlib
import io
import itertools
import sys
from pathlib import Path

import orjson

from screener.engine import Engine
from screener.rules import load_packs
from screener.scan import scan
from screener.synthetic.generate import GenConfig, Generator, write_jsonl

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "behaviour"
DIGESTS = FIXTURE / "digests.json"
SAMPLES = ("chat.jsonl", "microblog.jsonl", "malformed.jsonl")
CORPUS_EVENTS = 30_000


def _corpus() -> bytes:
    out = io.BytesIO()
    write_jsonl(itertools.islice(Generator(GenConfig(seed=1)), CORPUS_EVENTS), out, None)
    return out.getvalue()


def _verdicts(engine: Engine, data: bytes) -> tuple[str, int, int]:
    """sha256 of the verdict lines `screener scan` would print, with counts to read."""
    digest = hashlib.sha256()
    lines = flagged = 0
    for verdict in scan(engine, [io.BytesIO(data)]):
        line = verdict.to_json()
        digest.update(line + b"\n")
        lines += 1
        flagged += bool(orjson.loads(line).get("flagged"))
    return digest.hexdigest(), lines, flagged


def digests() -> dict[str, object]:
    engine = Engine(load_packs([FIXTURE / "rules"]))
    samples = b"".join((FIXTURE / name).read_bytes() for name in SAMPLES)
    corpus = _corpus()
    result: dict[str, object] = {"corpus_sha256": hashlib.sha256(corpus).hexdigest()}
    for name, data in (("samples", samples), ("corpus", corpus)):
        digest, lines, flagged = _verdicts(engine, data)
        result[name] = {"verdicts_sha256": digest, "lines": lines, "flagged": flagged}
    return result


def test_verdicts_are_byte_identical_to_the_baseline() -> None:
    want = orjson.loads(DIGESTS.read_bytes())
    got = digests()
    assert got["corpus_sha256"] == want["corpus_sha256"], (
        "the generator's output changed: the corpus is not the one the baseline screened"
    )
    assert got["samples"] == want["samples"]
    assert got["corpus"] == want["corpus"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: test_behaviour_unchanged.py --update  (re-records the baseline)")
    DIGESTS.write_bytes(orjson.dumps(digests(), option=orjson.OPT_INDENT_2) + b"\n")
    print(DIGESTS.read_text())
