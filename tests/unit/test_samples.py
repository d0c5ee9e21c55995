"""The shipped sample events are what `screener.synthetic.samples` produces, byte for byte."""

from __future__ import annotations

from pathlib import Path

from screener.synthetic import samples

EVENTS = Path(__file__).resolve().parents[2] / "seeds" / "events"


def test_the_samples_in_seeds_are_generated_by_the_synthetic_package(tmp_path: Path) -> None:
    assert samples.main(["--out", str(tmp_path)]) == 0
    for name in ("chat.jsonl", "microblog.jsonl"):
        assert (tmp_path / name).read_bytes() == (EVENTS / name).read_bytes(), name


def test_writing_the_shipped_samples_outside_a_checkout_says_so(
    tmp_path: Path, monkeypatch: object, capsys: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(samples, "SEEDS", tmp_path / "seeds")
    assert samples.main([]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "needs a source checkout" in err and "--out DIR" in err
    assert not (tmp_path / "seeds").exists()


def test_screener_generate_has_the_samples_as_a_preset(tmp_path: Path) -> None:
    """One generator: `screener generate --preset samples` emits exactly the shipped lines."""
    from screener.cli import main

    out = tmp_path / "samples.jsonl"
    args = ["generate", "--preset", "samples", "--seed", str(samples.DEFAULT_SEED)]
    assert main([*args, "--no-labels", "--count", str(samples.COUNT), "--out", str(out)]) == 0
    shipped = (EVENTS / "chat.jsonl").read_bytes() + (EVENTS / "microblog.jsonl").read_bytes()
    assert out.read_bytes() == shipped
    labelled = tmp_path / "labelled.jsonl"
    assert main([*args, "--count", "5", "--out", str(labelled)]) == 0
    lines = labelled.read_bytes().splitlines()
    assert len(lines) == 5 and all(b'"_label":"' in line for line in lines)
