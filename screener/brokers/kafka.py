"""Real Apache Kafka (KRaft, single node, loopback) run from Maven Central jars.

Tansu covers the everyday path; this broker exists for what Tansu lacks — idempotent
producers, transactions, persistence across restarts — and as the reference the service
must work against. Jars come from ``deploy/kafka/pom.xml`` via Maven and are cached, so
only the first run needs the registry.

``python -m screener.brokers.kafka --prefetch`` downloads the jars only (for CI);
without flags it runs a broker in the foreground.

Long: the broker's files, its listeners (plain, SASL, TLS) and its process are one test fixture.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from screener.brokers._process import (
    BrokerError,
    BrokerProcess,
    free_port,
    serve_forever,
)

#: Must match ``kafka.version`` in deploy/kafka/pom.xml (a test checks).
KAFKA_VERSION = "4.1.1"
ENV_LIBS = "SCREENER_KAFKA_LIBS"
_MARKER = ".screener-complete"
_MAVEN_TIMEOUT = 900.0

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
# One INFO line per start/stop, so the log shows the broker's life cycle.
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def pom_path() -> Path:
    """The POM listing the jars; lives in the source tree next to the package."""
    return Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"


def default_libs_dir() -> Path:
    """``$SCREENER_KAFKA_LIBS``, else a per-version directory in the user cache."""
    override = os.environ.get(ENV_LIBS)
    if override:
        return Path(override).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "screener" / f"kafka-{KAFKA_VERSION}" / "libs"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest() if pom.is_file() else ""


def _is_complete(libs: Path, digest: str) -> bool:
    marker = libs / _MARKER
    if not marker.is_file() or not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        return False
    # Without the POM (installed package) trust the marker; with it, it must match.
    return not digest or marker.read_text().strip() == digest


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent downloads (parallel test workers, CI prefetch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_jars(libs: Path | None = None) -> Path:
    """Return a directory holding Kafka's jars, running Maven only if it is incomplete."""
    libs = (libs or default_libs_dir()).resolve()
    pom = pom_path()
    digest = _pom_digest(pom)
    if _is_complete(libs, digest):
        return libs
    with _locked(libs.with_name(libs.name + ".lock")):
        if _is_complete(libs, digest):  # another process finished meanwhile
            return libs
        if not pom.is_file():
            raise BrokerError(
                f"Kafka jars missing in {libs} and {pom} not found; "
                f"run from a source checkout or point {ENV_LIBS} at a filled directory"
            )
        if libs.exists() and any(libs.iterdir()) and not (libs / _MARKER).exists():
            raise BrokerError(f"{libs} is not empty and was not filled by screener; refusing")
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                "Maven (mvn) not found: needed once to fetch the Kafka jars "
                f"(apt-get install maven), or set {ENV_LIBS} to a directory filled by `--prefetch`"
            )
        staging = Path(tempfile.mkdtemp(prefix=libs.name + ".", dir=libs.parent))
        try:
            cmd = [
                mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
            ]  # fmt: skip
            try:
                res = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise BrokerError(f"Maven timed out after {_MAVEN_TIMEOUT:.0f}s") from exc
            if res.returncode != 0:
                raise BrokerError(
                    f"Maven failed ({res.returncode}) resolving {pom}:\n"
                    f"{(res.stdout + res.stderr)[-4000:]}"
                )
            (staging / _MARKER).write_text(digest + "\n")
            if libs.exists():
                shutil.rmtree(libs)  # stale set from an older POM: never mix versions
            staging.rename(libs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return libs


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH (Kafka 4 needs Java 17+)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home, "bin", "java"), os.X_OK):
        return str(Path(home, "bin", "java"))
    found = shutil.which("java")
    if found is None:
        raise BrokerError(
            "Java not found: Apache Kafka 4 needs a JDK/JRE 17+ "
            "(apt-get install openjdk-17-jre-headless) or JAVA_HOME"
        )
    return found


def random_cluster_id() -> str:
    """A Kafka-style cluster id (base64url UUID), as ``StorageTool random-uuid`` prints.

    Generated here to save a JVM start; a leading '-' is avoided as Kafka does, since
    it would parse as a command-line option.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


@dataclass(frozen=True)
class Listener:
    """One more listener next to PLAINTEXT (which tests and the readiness probe use).

    ``advertised_port`` is what metadata tells clients that connected here: point it at a
    proxy in front of ``port`` and every connection of those clients goes through the proxy.
    SASL listeners accept SCRAM-SHA-256 and SCRAM-SHA-512 for the users given to ApacheKafka;
    SSL ones need ``ssl.keystore.*`` in ``extra_config``.
    """

    name: str
    protocol: str = "PLAINTEXT"
    port: int = 0
    advertised_port: int | None = None

    def __post_init__(self) -> None:
        if self.protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError(f"unknown security protocol {self.protocol!r}")
        if self.name.upper() in ("PLAINTEXT", "CONTROLLER") or not self.name.isidentifier():
            raise ValueError(f"listener name {self.name!r} is reserved or not an identifier")


_SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")


class ApacheKafka(BrokerProcess):
    """Single-node KRaft Kafka (combined broker+controller) on loopback ports.

    ``data_dir`` holds config, the metadata/log directory and ``broker.log``; it and
    both ports survive :meth:`restart`, so committed offsets and records do too. If
    ``data_dir`` is omitted a temporary one is made and removed by :meth:`close`.
    """

    label = "kafka"

    def __init__(
        self,
        data_dir: Path | str | None = None,
        port: int | None = None,
        *,
        libs_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 120.0,
        extra_config: Mapping[str, str] | None = None,
        listeners: Sequence[Listener] = (),
        scram_users: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(port, startup_timeout=startup_timeout)
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="screener-kafka-")).resolve()
        self._libs_dir = libs_dir
        self._heap = heap
        self._extra = dict(extra_config or {})
        self._listeners = [
            lst if lst.port else Listener(lst.name, lst.protocol, free_port(self.host),
                                          lst.advertised_port)
            for lst in listeners
        ]  # fmt: skip
        self._scram_users = dict(scram_users or {})
        self._controller_port: int | None = None
        self._libs: Path | None = None
        self._java = java_binary()  # fail fast, before anything is downloaded

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def server_properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def listeners(self) -> dict[str, Listener]:
        """The extra listeners by name, with the ports they were given."""
        return {lst.name: lst for lst in self._listeners}

    def _listener_config(self) -> dict[str, str]:
        host, port, cport = self.host, self.port, self._controller_port
        bound = [f"PLAINTEXT://{host}:{port}", f"CONTROLLER://{host}:{cport}"]
        advertised = [f"PLAINTEXT://{host}:{port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        extra: dict[str, str] = {}
        for lst in self._listeners:
            bound.append(f"{lst.name}://{host}:{lst.port}")
            advertised.append(f"{lst.name}://{host}:{lst.advertised_port or lst.port}")
            protocols.append(f"{lst.name}:{lst.protocol}")
            if lst.protocol.startswith("SASL"):
                prefix = f"listener.name.{lst.name.lower()}"
                extra[f"{prefix}.sasl.enabled.mechanisms"] = ",".join(_SCRAM)
                for mechanism in _SCRAM:
                    extra[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = (
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                    )
        return {
            "listeners": ",".join(bound),
            "advertised.listeners": ",".join(advertised),
            "listener.security.protocol.map": ",".join(protocols),
            **extra,
        }

    def _config(self) -> dict[str, str]:
        host, cport = self.host, self._controller_port
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{host}:{cport}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            **self._listener_config(),
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            # 50 partitions (the default) make the first group join slow on 2 cores.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Let tests use short consumer session timeouts (Kafka's floor is 6s).
            "group.min.session.timeout.ms": "1000",
            # After a SIGKILL the new incarnation waits for the old session to expire:
            # 6s instead of 9s shortens crash-restart tests without risking fencing.
            "broker.session.timeout.ms": "6000",
            "broker.heartbeat.interval.ms": "1000",
            **self._extra,
        }

    def _java_cmd(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            self._java,
            f"-Xmx{self._heap}",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _prepare(self) -> None:
        libs = ensure_jars(self._libs_dir)
        self._libs = libs
        if self._controller_port is None:
            self._controller_port = free_port(self.host)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2)
        self.server_properties.write_text("".join(f"{k}={v}\n" for k, v in self._config().items()))
        if (self.data_dir / "logs" / "meta.properties").exists():
            return  # formatted by an earlier start: keep data and cluster id
        cmd = self._java_cmd(
            libs, "kafka.tools.StorageTool", "format", "--standalone",
            "-t", random_cluster_id(), "-c", str(self.server_properties),
            *self._scram_args(),
        )  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if res.returncode != 0:
            raise BrokerError(f"kafka storage format failed:\n{(res.stdout + res.stderr)[-4000:]}")

    def _scram_args(self) -> list[str]:
        """SCRAM credentials written into the metadata log at format time (KRaft has no
        ZooKeeper to hold them, and this avoids a second JVM for kafka-configs)."""
        args: list[str] = []
        for user, password in self._scram_users.items():
            if not (user.isalnum() and password.isalnum()):
                raise BrokerError("SCRAM test users and passwords must be alphanumeric")
            for mechanism in _SCRAM:
                args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        return args

    def pause(self) -> None:
        """SIGSTOP: the broker stops answering but keeps every connection open (a hang, as
        a long GC pause or a frozen VM looks to clients)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def _argv(self) -> Sequence[str]:
        assert self._libs is not None, "_prepare() resolves the jars first"
        return self._java_cmd(self._libs, "kafka.Kafka", str(self.server_properties))

    def restart(self, *, hard: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL if ``hard``) and start again on the same dir and ports."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.resume()  # a paused JVM cannot act on SIGTERM
        super().stop(timeout)

    def close(self) -> None:
        """Stop, and delete ``data_dir`` if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_foreground(port: int, data_dir: Path | None = None) -> int:
    """Run Kafka until Ctrl-C/SIGTERM; returns an exit code."""
    broker = ApacheKafka(data_dir, port)
    try:
        return serve_forever(broker)
    finally:
        broker.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m screener.brokers.kafka", description=__doc__)
    parser.add_argument("--prefetch", action="store_true", help="only download the jars")
    parser.add_argument("--libs", type=Path, help=f"jar directory (default: ${ENV_LIBS} or cache)")
    parser.add_argument("--port", type=int, default=9092, help="PLAINTEXT port (default 9092)")
    parser.add_argument("--data-dir", type=Path, help="keep data here (default: temporary)")
    args = parser.parse_args(argv)
    try:
        if args.prefetch:
            t0 = time.monotonic()
            libs = ensure_jars(args.libs)
            print(f"kafka {KAFKA_VERSION} jars in {libs} ({time.monotonic() - t0:.1f}s)")
            return 0
        if args.libs is not None:
            os.environ[ENV_LIBS] = str(args.libs)
        return run_foreground(args.port, args.data_dir)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
