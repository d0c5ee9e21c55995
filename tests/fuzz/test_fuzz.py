"""Property-based fuzzing of everything that reads input a user or an attacker controls.

Targets: event parsing (record bytes), folding and the normalised views (text), matching
and screening (whole events through the engine), rule-pack compilation (YAML files) and
condition evaluation (random condition expressions compiled into a pack and run on events).

Properties: no crash (parsing returns an Event or a ParseError; compilation returns a pack or
raises PackError; screening returns one verdict per event whose match offsets lie inside the
original text), no hang and bounded time per input (each input runs under an alarm of
`PER_INPUT_S` CPU seconds and `HANG_S` wall seconds; the longest, in CPU time, is recorded).

CI runs a bounded smoke (`SCREENER_FUZZ_EXAMPLES`, default 150 per target, well under 60 s);
the longer run is

    SCREENER_FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz -q

Each run writes `build/reliability/fuzz.json` (inputs tried, crashes, longest input, peak
memory) for the README's reliability table.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screener.engine import Engine
from screener.events import ChatEvent, Event, MicroblogEvent, ParseError, parse_event, parse_obj
from screener.rules import PackError, RulePack, load_packs
from screener.rules.condition import COMPARISONS
from screener.text.folding import build_folding
from screener.text.views import BatchText, normalize

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = Path(os.environ.get("SCREENER_FUZZ_SUMMARY", ROOT / "build/reliability/fuzz.json"))
EXAMPLES = int(os.environ.get("SCREENER_FUZZ_EXAMPLES", "150"))
PER_INPUT_S = 5.0
"""CPU seconds one input may take."""
HANG_S = 60.0
PACK = ROOT / "tests" / "unit" / "packs" / "basic.yaml"

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # time is bounded by the alarm below, which also catches hangs
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI") is not None,  # CI: reproducible; locally: explore
    database=None,
)

PACK_FUZZ = settings(FUZZ, max_examples=max(20, EXAMPLES // 3))
"""compiling a pack costs ~100x parsing an event: fewer examples, same share of the budget"""


class Hang(Exception):
    """An input ran past PER_INPUT_S."""


class Tally:
    """What the run tried, per target (written to the summary at the end of the session)."""

    def __init__(self) -> None:
        self.inputs: dict[str, int] = {}
        self.longest: dict[str, float] = {}
        self.crashes: dict[str, int] = {}

    @contextmanager
    def bounded(self, target: str) -> Iterator[None]:
        """CPU time is what an input costs (a shared CI machine stretches wall time); a wall
        clock of HANG_S also catches an input that blocks without using CPU (e.g. a FIFO)."""

        def alarm(signum: int, frame: FrameType | None) -> None:
            raise Hang(f"{target}: input ran past {PER_INPUT_S}s of CPU or {HANG_S}s of wall")

        previous = {sig: signal.signal(sig, alarm) for sig in (signal.SIGPROF, signal.SIGALRM)}
        signal.setitimer(signal.ITIMER_PROF, PER_INPUT_S)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        started = time.process_time()
        self.crashes.setdefault(target, 0)
        try:
            yield
        except BaseException:
            self.crashes[target] += 1  # hypothesis then shrinks it and fails the test
            raise
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            took = time.process_time() - started
            self.inputs[target] = self.inputs.get(target, 0) + 1
            self.longest[target] = max(self.longest.get(target, 0.0), took)


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    SUMMARY.write_text(json.dumps({
        "examples_per_target": EXAMPLES,
        "per_input_cpu_limit_s": PER_INPUT_S,
        "inputs": TALLY.inputs,
        "total_inputs": sum(TALLY.inputs.values()),
        "crashes": TALLY.crashes,
        "longest_s": {k: round(v, 4) for k, v in TALLY.longest.items()},
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }, indent=2) + "\n")  # fmt: skip


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_packs([PACK]))


# -- strategies ---------------------------------------------------------------------------------

# Text an evader or a broken client writes: CJK, fullwidth, circled and styled forms, emoji
# and keycaps, zero-width and combining marks, bidi controls, surrogates-free astral planes.
NASTY = st.sampled_from([
    *"约炮加微信薇❤V信ｖｘＶ威壹捌⓪①⑴⒈１８８🔞💋🅥🅧1⃣8⃣\u200b\u200c\u200d\u2060\ufeff\u202e\u0301\u0336",
    "\u0000", "\x7f", "\U0001d5ba", "\U000e0041", "鸡", "蛋", "约 炮", "加 V 信", "Ａ", "é",
])  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(NASTY, max_size=200).map("".join),
    st.lists(st.one_of(NASTY, st.characters()), max_size=300).map("".join),
)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    TEXT,
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid events with hostile values, some fields wrong or missing."""
    event: dict[str, Any] = {
        "kind": draw(st.sampled_from(["chat", "microblog", "fax", 1])),
        "id": draw(st.one_of(st.text(max_size=20), st.integers())),
        "ts": draw(st.one_of(st.integers(), st.text(max_size=30), st.just("2024-01-01T00:00:00Z"))),
        "user": draw(st.one_of(
            st.fixed_dictionaries({"id": st.text(min_size=1, max_size=10)}, optional={
                "account_age_days": st.one_of(st.floats(), st.integers(), st.none()),
                "followers": st.one_of(st.integers(), st.text(max_size=3)),
                "verified": st.booleans(),
            }),
            JSON,
        )),
        "text": draw(st.one_of(TEXT, JSON)),
    }  # fmt: skip
    if draw(st.booleans()):
        event["media"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["image", "video", "file", "link", "gif"]),
                    },
                    optional={"url": TEXT, "pdq": st.text("0123456789abcdefg", max_size=70)},
                ),
                max_size=6,
            )
        )
    if draw(st.booleans()):
        event[draw(st.text(max_size=8))] = draw(JSON)
    for key in draw(st.sets(st.sampled_from(sorted(event)), max_size=2)):
        del event[key]
    return event


def _dumps(value: Any) -> bytes:
    """JSON as a client might send it: big integers too (orjson refuses them)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


# -- targets ------------------------------------------------------------------------------------


@FUZZ
@given(raw=st.one_of(st.binary(max_size=2000), events().map(_dumps), JSON.map(_dumps)))
def test_parse_event_returns_an_event_or_a_reason(raw: bytes) -> None:
    with TALLY.bounded("event parsing"):
        parsed = parse_event(raw)
    assert isinstance(parsed, (ChatEvent, MicroblogEvent, ParseError))


@FUZZ
@given(depth=st.integers(1, 5000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_not_a_crash(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    with TALLY.bounded("event parsing"):
        parsed = parse_event((opener * depth + "1" + closer * depth).encode())
    assert isinstance(parsed, ParseError)


@FUZZ
@given(text=TEXT, view=st.sampled_from(["compact", "folded", "digits", "sound", "repeat"]))
def test_folding_maps_every_character_back_into_the_original(text: str, view: str) -> None:
    folding = build_folding()
    with TALLY.bounded("folding"):
        folding.fold_text(text)
        normal = normalize(folding, text, view)
    for start, end in normal.spans:
        assert 0 <= start <= end <= len(text)


@FUZZ
@given(texts=st.lists(TEXT, min_size=1, max_size=8))
def test_batch_views_build_for_any_texts(texts: list[str]) -> None:
    with TALLY.bounded("folding"):
        BatchText.build(build_folding(), texts)


@FUZZ
@given(batch=st.lists(events(), min_size=1, max_size=8))
def test_screening_gives_one_verdict_per_event_with_offsets_inside_the_text(
    engine: Engine, batch: list[dict[str, Any]]
) -> None:
    parsed = [p for p in map(parse_obj, batch) if not isinstance(p, ParseError)]
    with TALLY.bounded("matching + screening"):
        verdicts = engine.screen(parsed)
        for event, verdict in zip(parsed, verdicts, strict=True):
            _check_verdict(event, verdict)
    assert len(verdicts) == len(parsed)


def _check_verdict(event: Event, verdict: Any) -> None:
    orjson.dumps(verdict.to_dict())
    limit = len(event.text)
    for finding in verdict.findings:
        for m in finding.matches:
            assert 0 <= m.start <= m.end <= limit, (m, len(event.text))


# -- rule packs ---------------------------------------------------------------------------------

IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
VALID_ATOMS = st.one_of(
    st.sampled_from([
        "hit(services)", "hit(wechat)", "hit(chicken)", "detector(phone)", "detector(qq)",
        "detector(wechat_id)", "re(price)", "re(starts_hello)", "has_contact", "true", "false",
        'kind == "chat"', 'kind != "microblog"', "tag_distinct(paid) == 0",
    ]),
    st.builds("{} {} {}".format,
              st.sampled_from(["len(media)", "count(services)", "user.account_age_days",
                               "user.followers", "count(wechat)"]),
              st.sampled_from(sorted(COMPARISONS)),
              st.one_of(st.integers(0, 10**6).map(str),
                        st.floats(0, 1e6).map("{:.3f}".format))),
    st.builds('user.id in ["{}", "{}"]'.format, IDENT, IDENT),
)  # fmt: skip
"""Conditions the pack's names make valid: most generated rules compile, so evaluation runs."""
HOSTILE_ATOMS = st.one_of(
    st.sampled_from(["hit(nope)", "re(nope)", "user.__class__.__init__.__globals__ == 1",
                     "len(media) > 1" + "0" * 5000, "((((", "not", "and or", "hit(services"]),
    TEXT,
)  # fmt: skip
ATOMS = st.one_of(VALID_ATOMS, VALID_ATOMS, VALID_ATOMS, HOSTILE_ATOMS)


def _conditions(atoms: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Conditions built from `atoms` with the pack language's not/parentheses/and/or."""
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.builds("not {}".format, inner),
            st.builds("({})".format, inner),
            st.builds("{} and {}".format, inner, inner),
            st.builds("{} or {}".format, inner, inner),
        ),
        max_leaves=12,
    )


CONDITION = _conditions(ATOMS)
VALID_CONDITION = _conditions(VALID_ATOMS)


def _base_pack() -> dict[str, Any]:
    """The basic test pack, parsed afresh: the pack strategies below vary its slots."""
    parsed: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    return parsed


@st.composite
def valid_packs(draw: st.DrawFn) -> dict[str, Any]:
    """The basic pack with generated rules that should compile: evaluation gets exercised."""
    base = _base_pack()
    rules = [{
        "id": f"r{i}", "category": draw(st.sampled_from(["porn", "abuse", "fraud"])),
        "score": draw(st.integers(0, 10)), "condition": draw(VALID_CONDITION),
        **({"exceptions": [draw(VALID_CONDITION)]} if draw(st.booleans()) else {}),
    } for i in range(draw(st.integers(1, 5)))]  # fmt: skip
    return {**base, "rules": rules}


@st.composite
def packs(draw: st.DrawFn) -> dict[str, Any]:
    """A pack shaped like the real ones, with hostile values in every slot."""
    base = _base_pack()
    rules = [{
        "id": draw(IDENT), "category": draw(st.sampled_from(["porn", "abuse", "x", ""])),
        "score": draw(st.one_of(st.integers(-10, 10), st.integers(-10, 10), st.floats(),
                                st.text(max_size=5))),
        "condition": draw(CONDITION),
        **({"action": draw(st.sampled_from(["review", "block", "allow", "explode"]))}
           if draw(st.booleans()) else {}),
    } for _ in range(draw(st.integers(1, 4)))]  # fmt: skip
    pack = {**base, "rules": rules}
    if draw(st.booleans()):
        pack["thresholds"] = {"review": draw(JSON_LEAF), "block": draw(JSON_LEAF)}
    if draw(st.booleans()):
        pack["lexicons"] = {
            **base["lexicons"],
            draw(IDENT): {"terms": draw(st.lists(st.one_of(TEXT, JSON), max_size=6))},
        }
    if draw(st.booleans()):
        pack["regexes"] = {**base["regexes"], draw(IDENT): draw(st.one_of(
            TEXT, st.sampled_from(["(a+)+$", "(?P<x>", "\\", "[", "a{1000000}", "(?i)约炮"]),
        ))}  # fmt: skip
    if draw(st.booleans()):
        pack["macros"] = {**base["macros"], draw(IDENT): draw(CONDITION)}
    if draw(st.booleans()):
        del pack[draw(st.sampled_from(sorted(pack)))]
    return pack


def _compile(tmp_path: Path, text: str) -> RulePack | None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with TALLY.bounded("rule compilation"):
        try:
            return load_packs([path])
        except PackError:
            return None


@PACK_FUZZ
@given(pack=st.one_of(packs(), valid_packs()), batch=st.lists(events(), min_size=1, max_size=4))
def test_any_pack_compiles_or_is_refused_and_its_conditions_evaluate(
    tmp_path_factory: pytest.TempPathFactory, pack: dict[str, Any], batch: list[dict[str, Any]]
) -> None:
    compiled = _compile(tmp_path_factory.mktemp("pack"), yaml.safe_dump(pack, allow_unicode=True))
    if compiled is None:
        return
    parsed = [p for p in map(parse_obj, batch) if not isinstance(p, ParseError)]
    engine = Engine(compiled)
    with TALLY.bounded("condition evaluation"):
        for event, verdict in zip(parsed, engine.screen(parsed), strict=True):
            _check_verdict(event, verdict)


@PACK_FUZZ
@given(text=st.one_of(
    st.text(max_size=500),
    st.lists(st.sampled_from(["a: ", "- ", "&x ", "*x ", "!!python/object ", "{", "}", "[",
                              "]", "\n", "  ", "rules:", "lexicons:", "file: ", "'", '"', "\t",
                              "\x00", "\x1b", ": |", "? ", "!!binary ", "1e5000"]),
             max_size=80).map("".join),
))  # fmt: skip
def test_any_yaml_text_compiles_or_is_refused(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    _compile(tmp_path_factory.mktemp("yaml"), text)
