"""The fault suite's Apache Kafka: listeners, certificates and SCRAM users made per run.

- PLAINTEXT: the test's own clients (feeder, tails, admin), never behind the proxy.
- PROXIED: what workers connect to, through a TcpProxy the test controls; the broker
  advertises the proxy's port on it, so every worker connection goes through the proxy.
- SCRAM (SASL_PLAINTEXT), TLS (SSL), MTLS (SSL with client certificates), SCRAM_TLS
  (SASL_SSL).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from proxy import TcpProxy

from screener.brokers import free_port
from screener.brokers.kafka import ApacheKafka, Listener


@dataclass(frozen=True)
class Certificates:
    ca: Path
    client_cert: Path
    client_key: Path
    keystore: Path
    password: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> Certificates:
    """A throw-away CA, a server certificate for 127.0.0.1 (PKCS#12 keystore for Kafka) and a
    client certificate, all signed by the CA."""
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(12)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-subj", "/CN=screener-test-ca", "-days", "2", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", "san.ext", cwd=folder)  # fmt: skip
    _openssl("pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key",
             "-out", "server.p12", "-passout", f"pass:{password}", cwd=folder)  # fmt: skip
    return Certificates(folder / "ca.pem", folder / "client.pem", folder / "client.key",
                        folder / "server.p12", password)  # fmt: skip


@dataclass
class FaultKafka:
    broker: ApacheKafka
    proxy: TcpProxy
    certs: Certificates
    users: dict[str, str]

    @property
    def bootstrap(self) -> str:
        """Direct PLAINTEXT: for the test's own clients."""
        return self.broker.bootstrap_servers

    @property
    def proxied(self) -> str:
        """Through the proxy: for workers."""
        return f"127.0.0.1:{self.proxy.port}"

    def address(self, listener: str) -> str:
        return f"127.0.0.1:{self.broker.listeners[listener].port}"


def start_fault_kafka(root: Path) -> FaultKafka:
    """Make certificates and users, start the proxy and the broker (the caller closes both)."""
    certs = make_certificates(root / "certs")
    users = {"screener": secrets.token_hex(16)}
    inner = free_port()
    proxy = TcpProxy("127.0.0.1", inner).start()
    ssl = {
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(certs.keystore),
        "ssl.keystore.password": certs.password,
        "ssl.key.password": certs.password,
        "listener.name.mtls.ssl.client.auth": "required",
        "listener.name.mtls.ssl.truststore.type": "PEM",
        "listener.name.mtls.ssl.truststore.location": str(certs.ca),
    }
    broker = ApacheKafka(
        root / "data",
        listeners=[
            Listener("PROXIED", "PLAINTEXT", inner, advertised_port=proxy.port),
            Listener("SCRAM", "SASL_PLAINTEXT"),
            Listener("TLS", "SSL"),
            Listener("MTLS", "SSL"),
            Listener("SCRAM_TLS", "SASL_SSL"),
        ],
        scram_users=users,
        extra_config=ssl,
    )
    try:
        broker.start()
    except BaseException:
        proxy.close()
        raise
    return FaultKafka(broker, proxy, certs, users)
