"""SASL/SCRAM and TLS against an Apache Kafka configured for them, through screener's settings.

The broker (`kafka_setup`) has a SCRAM user and certificates made for this run. Each case runs
`screener run` configured only through `SCREENER_*` environment variables and files (never
flags: a secret on a command line is visible to every user of the host), screens a flagged
event end to end, and checks that the secret appears neither in the service's logs nor on its
/metrics page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from kafka_setup import FaultKafka
from pipeline_support import PACK, ROOT, Collector, new_topics, produce

from screener.brokers import free_port

FLAGGED = orjson.dumps({"kind": "chat", "id": "sec-1", "ts": 1, "user": {"id": "u1"},
                        "text": "约炮加V信"})  # fmt: skip


def _env(kafka: FaultKafka, case: str, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """The environment for one case, and the secrets it must never show."""
    user, password = next(iter(kafka.users.items()))
    env: dict[str, str]
    if case == "scram-sha-256":
        env = {"SCREENER_BOOTSTRAP_SERVERS": kafka.address("SCRAM"),
               "SCREENER_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
               "SCREENER_SASL_MECHANISM": "SCRAM-SHA-256",
               "SCREENER_SASL_USERNAME": user, "SCREENER_SASL_PASSWORD": password}  # fmt: skip
    elif case == "scram-sha-512+tls":
        secret = tmp_path / "sasl-password"
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        env = {"SCREENER_BOOTSTRAP_SERVERS": kafka.address("SCRAM_TLS"),
               "SCREENER_SECURITY_PROTOCOL": "SASL_SSL",
               "SCREENER_SASL_MECHANISM": "SCRAM-SHA-512",
               "SCREENER_SASL_USERNAME": user, "SCREENER_SASL_PASSWORD_FILE": str(secret),
               "SCREENER_SSL_CAFILE": str(kafka.certs.ca)}  # fmt: skip
    elif case == "mtls":
        env = {"SCREENER_BOOTSTRAP_SERVERS": kafka.address("MTLS"),
               "SCREENER_SECURITY_PROTOCOL": "SSL",
               "SCREENER_SSL_CAFILE": str(kafka.certs.ca),
               "SCREENER_SSL_CERTFILE": str(kafka.certs.client_cert),
               "SCREENER_SSL_KEYFILE": str(kafka.certs.client_key)}  # fmt: skip
    else:
        raise AssertionError(case)
    secrets = [password, kafka.certs.client_key.read_text().splitlines()[1]]
    return env, secrets


class SecureService:
    def __init__(self, env: dict[str, str], topics: dict[str, str], metrics_port: int):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCREENER_")}
        self.env |= env | {
            "SCREENER_INPUT_TOPICS": topics["input"], "SCREENER_REVIEW_TOPIC": topics["review"],
            "SCREENER_DLQ_TOPIC": topics["dlq"], "SCREENER_GROUP_ID": f"g-{uuid.uuid4().hex[:6]}",
            "SCREENER_RULES": str(PACK), "SCREENER_METRICS_PORT": str(metrics_port),
            "SCREENER_METRICS_HOST": "127.0.0.1", "SCREENER_SHUTDOWN_TIMEOUT_S": "10",
        }  # fmt: skip
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        argv = [sys.executable, "-m", "screener", "run"]
        self.proc = subprocess.Popen(
            argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _scrape(port: int, path: str = "/metrics") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("case", ["scram-sha-256", "scram-sha-512+tls", "mtls"])
async def test_secured_connection_screens_end_to_end_and_never_shows_the_secret(
    fault_kafka: FaultKafka, tmp_path: Path, topic_factory: Any, case: str
) -> None:
    topics = await new_topics(topic_factory, fault_kafka.bootstrap)
    env, secrets = _env(fault_kafka, case, tmp_path)
    port = free_port()
    service = SecureService(env, topics, port)
    try:
        await produce(fault_kafka.bootstrap, topics["input"], [FLAGGED])
        async with Collector(fault_kafka.bootstrap, topics["review"]) as review:
            await review.until(lambda: review.ids() == {"sec-1"}, 120,
                               f"the flagged event through {case}")  # fmt: skip
        status, metrics = _scrape(port)
        assert status == 200 and b"screener_" in metrics
        assert service.proc.poll() is None, service.output()
        service.proc.terminate()
        assert service.proc.wait(30) == 0, service.output()
        logs = service.output()
        for secret in secrets:
            assert secret not in logs, f"{case}: a secret is in the service's output"
            assert secret.encode() not in metrics, f"{case}: a secret is on /metrics"
    finally:
        service.close()


async def test_a_wrong_password_is_refused_in_one_line_and_never_echoed(
    fault_kafka: FaultKafka, tmp_path: Path, topic_factory: Any
) -> None:
    topics = await new_topics(topic_factory, fault_kafka.bootstrap)
    env, _ = _env(fault_kafka, "scram-sha-256", tmp_path)
    wrong = "Wrong" + uuid.uuid4().hex
    env["SCREENER_SASL_PASSWORD"] = wrong
    service = SecureService(env, topics, 0)
    try:
        deadline = time.monotonic() + 60
        while "auth" not in service.output().lower() and time.monotonic() < deadline:
            time.sleep(0.2)  # poll interval inside the deadline
        assert "auth" in service.output().lower(), service.output()
        assert wrong not in service.output()
    finally:
        service.close()
