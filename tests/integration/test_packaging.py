"""The wheel as users install it: built, installed into a fresh virtualenv outside the checkout,
and run from there, so that it proves the wheel itself carries its packs, samples and broker.

Dependency wheels are kept in a wheelhouse between runs (`$SCREENER_WHEELHOUSE`, default
`~/.cache/screener/wheelhouse`): after the first run the install needs no index at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import screener

ROOT = Path(__file__).resolve().parents[2]
#: What a build of the project reads (the packs are a symlink into seeds/).
SOURCES = ("pyproject.toml", "README.md", "screener", "seeds")
WHEELHOUSE = Path(
    os.environ.get("SCREENER_WHEELHOUSE", Path.home() / ".cache" / "screener" / "wheelhouse")
)


def _run(argv: Sequence[str | Path], cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {result.returncode}\n"
        f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the freshly built wheel installed; its bin directory."""
    tmp = tmp_path_factory.mktemp("packaging")
    assert not tmp.resolve().is_relative_to(ROOT.resolve())
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            skip = shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.so"
            )  # the wheel builds its own
            shutil.copytree(path, src / name, symlinks=True, ignore=skip)
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "-q", "-w", tmp / "dist", src], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("screener-*.whl")
    _run([sys.executable, "-m", "venv", tmp / "venv"], cwd=tmp)
    bin_dir = tmp / "venv" / "bin"
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    offline = [bin_dir / "pip", "install", "-q", "--no-index", "--find-links", WHEELHOUSE, wheel]
    try:
        _run(offline, cwd=tmp)
    except AssertionError:  # first run, or dependencies changed: fill the wheelhouse once
        _run([*pip, "wheel", "-q", "-w", WHEELHOUSE, "--find-links", WHEELHOUSE, wheel], cwd=tmp)
        for built in WHEELHOUSE.glob("screener-*.whl"):
            built.unlink()  # the project's own wheel is always the fresh one
        _run(offline, cwd=tmp)
    return bin_dir


def test_the_installed_package_is_the_wheel_not_the_checkout(venv: Path) -> None:
    where = _run([venv / "python", "-c", "import screener; print(screener.__file__)"], venv)
    assert Path(where.strip()).is_relative_to(venv.parent)
    version = _run([venv / "screener", "--version"], venv.parent)
    assert version.startswith(f"screener {screener.__version__} ")


def test_the_wheel_carries_the_compiled_pdq_index(venv: Path) -> None:
    code = "from screener.banks import fast; print(fast.backend())"
    assert _run([venv / "python", "-c", code], venv.parent).startswith("compiled")


def test_shipped_packs_check_and_their_examples_pass(venv: Path) -> None:
    assert _run([venv / "screener", "rules", "check"], venv.parent).startswith("ok: ")
    assert re.search(r"\d+ passed, 0 failed", _run([venv / "screener", "rules", "test"],
                                                   venv.parent))  # fmt: skip


def test_scan_screens_the_shipped_samples(venv: Path) -> None:
    code = "from screener.cli import default_samples; print(default_samples())"
    samples = Path(_run([venv / "python", "-c", code], venv.parent).strip())
    files = sorted(samples.glob("*.jsonl"))
    assert {f.name for f in files} >= {"chat.jsonl", "microblog.jsonl", "malformed.jsonl"}
    out = _run([venv / "screener", "scan", *files], venv.parent)
    verdicts = out.splitlines()
    lines = sum(1 for f in files for line in f.read_bytes().splitlines() if line.strip())
    assert len(verdicts) == lines
    assert sum('"flagged":true' in v for v in verdicts) > 0


def test_demo_runs_with_the_broker_from_the_wheels_dependencies(venv: Path) -> None:
    out = _run([venv / "screener", "demo", "--duration", "5", "--metrics-port", "0"], venv.parent)
    assert "demo done:" in out


def test_eval_without_data_says_what_to_pass_and_names_no_path_in_the_virtualenv(
    venv: Path,
) -> None:
    result = subprocess.run(
        [venv / "screener", "eval"], cwd=venv.parent, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--data" in lines[0], result.stderr
    assert str(venv.parent) not in lines[0] and "site-packages" not in lines[0]
