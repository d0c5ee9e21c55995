"""Kafka security settings: secrets from env or files, never in a repr or the options' text."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from screener.kafka import connection_options
from screener.pipeline.settings import Settings


def test_password_from_a_file_and_never_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    s = Settings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password_file=secret)
    assert s.sasl_password == "s3cret-from-file"
    assert connection_options(s)["sasl_plain_password"] == "s3cret-from-file"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s)


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCREENER_SASL_PASSWORD", "from-env")
    assert Settings().sasl_password == "from-env"
    assert "from-env" not in repr(Settings())


def test_a_password_and_a_different_file_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("one")
    with pytest.raises(ValidationError, match="not both"):
        Settings(sasl_password="two", sasl_password_file=secret)


def test_a_missing_password_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="sasl_password_file: No such file"):
        Settings(sasl_password_file=tmp_path / "missing")
