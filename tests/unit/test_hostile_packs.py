"""Hostile rule packs: every one is refused fast with `file:line: reason`, never a traceback,
never a hang, never unbounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

from screener.rules import PackError, load_packs

RULE = """\
rules:
  - id: r1
    category: porn
    score: 6
    condition: hit(words)
"""


def lexicon_pack(tmp_path: Path, file: str) -> Path:
    pack = tmp_path / "pack" / "pack.yaml"
    pack.parent.mkdir(exist_ok=True)
    pack.write_text(f"lexicons:\n  words:\n    file: {file!r}\n" + RULE, encoding="utf-8")
    return pack


def refused(paths: list[Path], **kwargs: object) -> list[str]:
    # CPU time of this process, not wall time: the bound is about the loader's work, and a
    # loaded CI host must not turn it into a flake.
    start = time.process_time()
    with pytest.raises(PackError) as info:
        load_packs(paths, **kwargs)  # type: ignore[arg-type]
    assert time.process_time() - start < 10, "refusals must be fast"
    return info.value.problems


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("../../../../etc/passwd", "leaves the pack's directory"),
        ("/etc/passwd", "is an absolute path"),
        ("/dev/zero", "is an absolute path"),
        ("sub/../../outside.txt", "leaves the pack's directory"),
    ],
)
def test_lexicon_files_stay_inside_the_pack_directory(
    tmp_path: Path, file: str, reason: str
) -> None:
    (tmp_path / "outside.txt").write_text("约炮\n", encoding="utf-8")
    pack = lexicon_pack(tmp_path, file)
    (problem,) = refused([pack])
    assert problem.startswith(f"{pack}:3: ") and reason in problem, problem


def test_a_symlink_out_of_the_pack_is_refused_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("约炮\n", encoding="utf-8")
    pack = lexicon_pack(tmp_path, "terms.txt")
    (pack.parent / "terms.txt").symlink_to(tmp_path / "outside.txt")
    (problem,) = refused([pack])
    assert problem.startswith(f"{pack}:3: ") and "outside the pack's directory" in problem
    assert load_packs([pack], allow_external=True).term_count == 1
    inside = pack.parent / "real.txt"
    inside.write_text("约炮\n", encoding="utf-8")
    (pack.parent / "terms.txt").unlink()
    (pack.parent / "terms.txt").symlink_to(inside)  # a symlink inside the pack is fine
    assert load_packs([pack]).term_count == 1


def test_devices_and_fifos_are_not_read_even_when_allowed(tmp_path: Path) -> None:
    pack = lexicon_pack(tmp_path, "/dev/zero")
    (problem,) = refused([pack], allow_external=True)
    assert problem.startswith(f"{pack}:3: ") and "not a regular file" in problem
    fifo = pack.parent / "fifo.txt"
    os.mkfifo(fifo)
    pack = lexicon_pack(tmp_path, "fifo.txt")
    (problem,) = refused([pack])  # would block for ever on a plain open()
    assert problem.startswith(f"{pack}:3: ") and "not a regular file" in problem


def test_a_pack_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pack.yaml"
    os.mkfifo(fifo)
    (problem,) = refused([fifo])
    assert problem == f"{fifo}:1: {fifo} is not a regular file"


def test_a_pack_directory_symlinking_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text(RULE.replace("hit(words)", "len(text) > 1"))
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "a.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    (problem,) = refused([packs])
    assert problem.startswith(f"{packs / 'a.yaml'}:1: ") and "outside" in problem


def test_big_files_are_refused_by_size_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w", encoding="utf-8") as f:
        f.write("rules:\n")
        line = "  - {id: r, category: porn, condition: hit(words)}\n"
        f.write(line * (50_000_000 // len(line)))
    start = time.process_time()
    (problem,) = refused([big])
    assert time.process_time() - start < 2
    assert problem.startswith(f"{big}:1: ") and "over the 4000000 limit" in problem


def test_lexicon_files_have_a_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import screener.rules.pack as pack_module

    monkeypatch.setattr(pack_module, "MAX_LEXICON_BYTES", 1000)
    pack = lexicon_pack(tmp_path, "terms.txt")
    (pack.parent / "terms.txt").write_text("约炮\n" * 1000, encoding="utf-8")
    (problem,) = refused([pack])
    assert problem.startswith(f"{pack}:3: ") and "over the 1000" in problem


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def test_an_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = write(tmp_path, "\n".join(lines) + "\n" + RULE)
    (problem,) = refused([path])
    assert problem.startswith(f"{path}:1: more than ")
    assert problem.endswith(("YAML aliases", "YAML values (aliases expanded)"))


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("rules: []\nname: a\x01b\n", 2, "unacceptable character #x0001"),
        (RULE.replace("score: 6", "score: 1" + "0" * 5000), 4, "not a usable number"),
        (RULE.replace("score: 6", "score: 1.0e+400"), 4, "not a finite number"),
        (RULE.replace("score: 6", "score: 1e400"), 4, "finite number"),  # a string to YAML
        (RULE.replace("score: 6", "score: '1e9999'"), 4, "finite number"),
        (RULE.replace("score: 6", "score: 1" + "0" * 20), 4, "larger than"),
        (RULE + "thresholds: {review: .nan, block: .nan}\n", 6, "not a finite number"),
        (RULE + "thresholds: {review: 1, block: .inf}\n", 6, "not a finite number"),
        (RULE.replace("rules:", "rules: !!python/tuple"), 1, "unsupported tag"),
        (RULE + "lexicons: !!python/object:os.system {words: {terms: [a]}}\n", 6,
         "unsupported tag tag:yaml.org,2002:python/object"),
        (RULE + "x: !!python/name:os.system\n", 6, "unsupported tag"),
        (RULE + "x: !custom 1\n", 6, "unsupported tag"),
        ("rules:\n" + "  " + "[" * 40 + "]" * 40 + "\n", 2, "nested more than"),
    ],
)  # fmt: skip
def test_yaml_that_is_not_plain_data_is_refused_with_its_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = write(tmp_path, text)
    problems = refused([path])
    assert any(p.startswith(f"{path}:{line}: ") and reason in p for p in problems), problems


def test_refusals_exit_non_zero_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, RULE.replace("score: 6", "score: 1" + "0" * 5000))
    done = subprocess.run(
        [sys.executable, "-m", "screener", "rules", "check", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{path}:4: " in done.stderr + done.stdout


def test_doubling_macros_are_refused_by_expanded_size(tmp_path: Path) -> None:
    macros = ["  m0: len(text) > 1"] + [f"  m{i}: m{i - 1} and m{i - 1}" for i in range(1, 41)]
    path = write(tmp_path, RULE.replace("hit(words)", "m40") + "macros:\n" + "\n".join(macros))
    problems = refused([path])
    assert any(p.startswith(f"{path}:5: ") and "more than 20000 terms" in p for p in problems)


@pytest.mark.parametrize(
    "condition",
    ["(" * 10_000 + "len(text) > 1" + ")" * 10_000, "not " * 10_000 + "len(text) > 1",
     "[" * 5_000 + "]" * 5_000 + " == 1", "len(" * 3000 + "text" + ")" * 3000],
)  # fmt: skip
def test_deep_conditions_are_refused_with_their_line(tmp_path: Path, condition: str) -> None:
    path = write(tmp_path, RULE.replace("hit(words)", f"'{condition}'"))
    (problem,) = refused([path])
    assert problem.startswith(f"{path}:5: rule r1: condition: nested more than 50 levels")


def test_long_flat_conditions_compile(tmp_path: Path) -> None:
    """`a or b or …` is one node, so a long list of alternatives is not a deep tree."""
    condition = " or ".join(["len(text) > 100"] * 3000 + ["len(text) > 1"])
    pack = load_packs([write(tmp_path, RULE.replace("hit(words)", condition))])
    from screener.engine import Engine

    assert Engine(pack).screen_texts(["ab"])[0].flagged


def test_deep_macro_chains_are_refused(tmp_path: Path) -> None:
    macros = ["  m0: len(text) > 1"] + [f"  m{i}: not m{i - 1}" for i in range(1, 300)]
    path = write(tmp_path, RULE.replace("hit(words)", "m299") + "macros:\n" + "\n".join(macros))
    problems = refused([path])
    assert any(p.startswith(f"{path}:5: ") and "more than 100 deep" in p for p in problems)


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("count(x) > 1" + "0" * 5000, "more than 15 digits"),
        ("x" * 200_000, "over the 100000 limit"),
    ],
)
def test_condition_literals_and_sizes_are_bounded(
    tmp_path: Path, condition: str, reason: str
) -> None:
    path = write(tmp_path, RULE.replace("hit(words)", condition))
    (problem,) = refused([path])
    assert problem.startswith(f"{path}:5: ") and reason in problem


def test_an_empty_pack_alone_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    (problem,) = refused([path])
    assert problem.startswith(f"{path}:1: ") and "defines no rules" in problem
    lexicons = write(tmp_path, "lexicons: {words: {terms: [约炮]}}\n")
    (problem,) = refused([lexicons])
    assert "defines no rules" in problem
    (tmp_path / "rules.yaml").write_text(RULE, encoding="utf-8")
    assert len(load_packs([tmp_path]).rules) == 1  # a rule-less file among others is fine


def test_rules_test_with_a_null_user_says_why(tmp_path: Path) -> None:
    from screener.rules.examples import run_examples

    text = RULE.replace("hit(words)", "len(text) > 1") + (
        "    examples:\n      match: [{user: null, text: hello}]\n"
    )
    (result,) = run_examples(load_packs([write(tmp_path, text)]))
    assert not result.ok and result.error is not None and "user" in result.error
    done = subprocess.run(
        [sys.executable, "-m", "screener", "rules", "test", str(tmp_path / "pack.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{tmp_path / 'pack.yaml'}:2: rule r1: expected to match" in done.stdout


def test_lexicon_files_have_term_count_and_length_caps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import screener.rules.pack as pack_module

    monkeypatch.setattr(pack_module, "MAX_FILE_TERMS", 100)
    pack = lexicon_pack(tmp_path, "terms.txt")
    terms = pack.parent / "terms.txt"
    terms.write_text("".join(f"t{i}\n" for i in range(1000)), encoding="utf-8")
    (problem,) = refused([pack])
    assert problem == f"{terms}:101: more than 100 terms"
    terms.write_text("ok\n" + "长" * 201 + "\n", encoding="utf-8")
    (problem,) = refused([pack])
    assert problem.startswith(f"{terms}:2: ") and "at most 200 characters" in problem
    monkeypatch.setattr(pack_module, "MAX_SET_FILE_TERMS", 150)
    terms.write_text("".join(f"t{i}\n" for i in range(90)), encoding="utf-8")
    second = pack.parent / "second.yaml"
    second.write_text("lexicons:\n  more:\n    file: terms.txt\n", encoding="utf-8")
    (problem,) = refused([pack.parent])
    assert problem == f"{terms}:61: the pack set's lexicon files hold more than 150 terms"


def test_file_terms_compile_like_inline_terms(tmp_path: Path) -> None:
    """The fast path for plain file lines gives the terms, version and verdicts the pydantic
    path gives (same term list inline and in a file, tags and options included)."""
    words = ["约炮", "escort", "dm me", "v信", "ＶＸ", "a\u0301b", "上门服务"]
    pack = lexicon_pack(tmp_path, "terms.txt")
    (pack.parent / "terms.txt").write_text(
        "\n".join(words) + "\nsugar\tpaid,x1\n", encoding="utf-8"
    )
    from_file = load_packs([pack])
    inline = tmp_path / "inline" / "pack.yaml"
    inline.parent.mkdir()
    terms = ", ".join(f"{w!r}" for w in words) + ", {term: sugar, tags: [paid, x1]}"
    inline.write_text(f"lexicons:\n  words:\n    terms: [{terms}]\n" + RULE, encoding="utf-8")
    from_yaml = load_packs([inline])
    assert from_file.term_count == from_yaml.term_count == 8
    from screener.engine import Engine

    texts = ["约 炮", "an escort", "dmme", "加ｖ信", "vx", "ab", "上门服务", "sugar baby"]
    assert [v.to_dict()["findings"] for v in Engine(from_file).screen_texts(texts)] == [
        v.to_dict()["findings"] for v in Engine(from_yaml).screen_texts(texts)
    ]
    assert all(v.flagged for v in Engine(from_file).screen_texts(texts))


def test_the_cli_flag_allows_files_outside_the_pack(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("约炮\n", encoding="utf-8")
    pack = lexicon_pack(tmp_path, "../outside.txt")
    command = [sys.executable, "-m", "screener", "rules", "check", str(pack)]
    refused_run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused_run.returncode != 0 and f"{pack}:3: " in refused_run.stderr
    allowed = subprocess.run(
        [*command, "--allow-external-files"], capture_output=True, text=True, timeout=120
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "1 terms" in allowed.stdout


def test_a_million_term_lexicon_is_refused_at_the_real_cap(tmp_path: Path) -> None:
    """At the shipped cap (not a patched one): 1,000,000 terms, which used to load for ~30 s
    and 1.7 GB, are refused at the first term over the cap, with its line."""
    from screener.rules.pack import MAX_FILE_TERMS

    pack = lexicon_pack(tmp_path, "terms.txt")
    terms = pack.parent / "terms.txt"
    terms.write_text("".join(f"t{i}\n" for i in range(1_000_000)), encoding="utf-8")
    (problem,) = refused([pack])
    assert MAX_FILE_TERMS < 1_000_000
    assert problem == f"{terms}:{MAX_FILE_TERMS + 1}: more than {MAX_FILE_TERMS} terms"
