"""The reload controller, the files source and pack bundles (the Kafka I/O is tested on a
real broker in tests/integration/test_hot_reload.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest

from screener.metrics import Metrics
from screener.reload.bundle import Bundle, BundleError, collect, compile_bundle, publishable
from screener.reload.controller import Reloader
from screener.reload.files import FileSource, signature
from screener.rules import PackError, RulePack, load_packs

GOOD = """
lexicons:
  services: {terms: [约炮]}
rules:
  - id: r1
    category: solicitation
    score: 6
    condition: hit(services)
"""
BROKEN = GOOD.replace("hit(services)", "hit(nope)")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_good_pack_is_swapped_in_and_a_bad_one_refused_with_file_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pack_file = _write(tmp_path / "p.yaml", GOOD)
    first = load_packs([pack_file])
    metrics = Metrics()
    metrics.rules_loaded(first.version)
    applied: list[RulePack] = []
    reloader = Reloader(applied.append, first.version, metrics)

    _write(pack_file, GOOD.replace("约炮", "包夜"))
    assert await reloader.offer(lambda: load_packs([pack_file]), "files")
    (new,) = applied
    assert reloader.version == new.version != first.version
    assert _value(metrics, "screener_rules_reloads_total", result="success") == 1
    assert _value(metrics, "screener_rules_info", worker="0", version=new.version) == 1
    assert metrics.registry.get_sample_value(
        "screener_rules_info", {"worker": "0", "version": first.version}
    ) is None  # fmt: skip

    _write(pack_file, BROKEN)
    with caplog.at_level(logging.ERROR, logger="screener.reload"):
        assert not await reloader.offer(lambda: load_packs([pack_file]), "files")
    assert applied == [new] and reloader.version == new.version  # the old pack keeps running
    assert _value(metrics, "screener_rules_reloads_total", result="failure") == 1
    assert f"{pack_file}:8: rule r1: condition:" in caplog.text  # file:line in the log
    assert reloader.refused and reloader.refused[0].startswith(f"{pack_file}:8:")

    assert await reloader.offer(lambda: new, "SIGHUP")  # same version: nothing to swap
    assert applied == [new]


async def test_compiling_runs_off_the_event_loop(tmp_path: Path) -> None:
    release = threading.Event()
    pack = load_packs([_write(tmp_path / "p.yaml", GOOD)])

    def slow() -> RulePack:
        release.wait(10)
        return pack

    reloader = Reloader(lambda p: None, "sha256:old")
    offer = asyncio.create_task(reloader.offer(slow, "files"))
    ticks = 0
    for _ in range(20):  # the loop keeps running while the compile waits in its thread
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not offer.done()
    release.set()
    assert await asyncio.wait_for(offer, 10) and reloader.version == pack.version


async def test_the_file_source_reloads_on_change_and_on_sighup(tmp_path: Path) -> None:
    pack_file = _write(tmp_path / "p.yaml", GOOD)
    builds: list[float] = []

    def build() -> RulePack:
        builds.append(time.monotonic())
        return load_packs([tmp_path])

    source = FileSource([tmp_path], build, interval_s=0.05)
    seen: list[RulePack] = []
    reloader = Reloader(seen.append, load_packs([tmp_path]).version)
    task = asyncio.create_task(source.run(reloader))
    try:
        await asyncio.sleep(0.2)
        assert not builds  # nothing changed: nothing compiled
        _write(pack_file, GOOD.replace("约炮", "包夜"))
        await _until(lambda: len(seen) == 1)
        source.hup.set()
        await _until(lambda: len(builds) == 2)  # SIGHUP compiles even when nothing changed
        assert len(seen) == 1
        _write(tmp_path / "q.yaml", "rules: []\n")  # a new file in a watched directory
        await _until(lambda: len(builds) == 3)
    finally:
        task.cancel()


async def _until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)  # poll interval inside the deadline


def test_signature_sees_content_renames_and_missing_files(tmp_path: Path) -> None:
    f = _write(tmp_path / "p.yaml", GOOD)
    before = signature([f])
    _write(tmp_path / "new.yaml", GOOD + "\n")
    (tmp_path / "new.yaml").replace(f)  # rename into place, as editors and ConfigMaps do
    assert signature([f]) != before
    f.unlink()
    assert signature([f])[0][1] == -1


def test_a_bundle_round_trips_and_compiles_to_the_same_version(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    _write(tmp_path / "dir" / "a.yaml", GOOD.replace("{terms: [约炮]}", "{file: words.txt}"))
    _write(tmp_path / "dir" / "words.txt", "约炮\n")
    extra = _write(tmp_path / "extra.yaml", "rules: []\n")
    bundle, pack = publishable([tmp_path / "dir", extra], "me")
    assert pack.version == load_packs([tmp_path / "dir", extra]).version
    decoded = Bundle.decode(bundle.encode())
    assert decoded.version == bundle.version and decoded.files == bundle.files
    assert compile_bundle(decoded, "kafka:t@0").version == pack.version


def test_publishable_names_the_original_file_and_line(tmp_path: Path) -> None:
    bad = _write(tmp_path / "p.yaml", BROKEN)
    with pytest.raises(PackError) as info:
        publishable([tmp_path], "me")
    assert info.value.problems[0].startswith(f"{bad}:8:")
    with pytest.raises(PackError) as info:
        compile_bundle(collect([tmp_path]), "kafka:t@3")
    assert info.value.problems[0].startswith("kafka:t@3/0-")


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b'{"format": "other"}',
        b'{"format": "screener-pack/1", "roots": ["a"], "files": {"a/../../x.yaml": ""}}',
        b'{"format": "screener-pack/1", "roots": ["a"], "files": {"/etc/x.yaml": ""}}',
        b'{"format": "screener-pack/1", "roots": ["a"], "files": {"b/x.yaml": ""}}',
        b'{"format": "screener-pack/1", "roots": [], "files": {}}',
        b'{"format": "screener-pack/1", "roots": ["a"], "files": {"a/x.yaml": 3}}',
    ],
)
def test_a_bundle_that_is_not_plain_files_under_its_roots_is_refused(value: bytes) -> None:
    with pytest.raises(BundleError):
        Bundle.decode(value)


def test_a_configmap_volume_loads_once_and_its_update_is_seen(tmp_path: Path) -> None:
    """The layout the kubelet writes: visible symlinks through `..data` to a hidden dir."""
    first = tmp_path / "..2026_01_01"
    first.mkdir()
    _write(first / "local.yaml", GOOD)
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "local.yaml").symlink_to("..data/local.yaml")
    assert load_packs([tmp_path]).files == (tmp_path / "local.yaml",)  # not twice
    assert list(collect([tmp_path]).files) == ["0-" + tmp_path.name + "/local.yaml"]
    before = signature([tmp_path])
    second = tmp_path / "..2026_01_02"
    second.mkdir()
    _write(second / "local.yaml", GOOD.replace("约炮", "包夜"))
    (tmp_path / "..data_tmp").symlink_to(second.name)
    (tmp_path / "..data_tmp").replace(tmp_path / "..data")  # the kubelet's atomic swap
    assert signature([tmp_path]) != before
    assert load_packs([tmp_path]).version != load_packs([first]).version
