"""Service settings: CLI flags > `SCREENER_*` environment > optional config file > defaults.

Kafka security (SASL, TLS) is configuration here, never code changes; the Kafka layer
(`screener.kafka.connection_options`) turns it into client options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from screener import defaults
from screener.defaults import DEFAULT_MAX_TEXT_CHARS

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCREENER_", extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    input_topics: CommaList = Field(
        default_factory=lambda: [defaults.CHAT_TOPIC, defaults.MICROBLOG_TOPIC]
    )
    review_topic: str = defaults.REVIEW_TOPIC
    dlq_topic: str = "screening.dlq"
    verdicts_topic: str | None = None
    group_id: str = defaults.GROUP_ID
    workers: int = Field(default=1, ge=1, le=64)
    rules: CommaList = Field(default_factory=list)
    # Rule changes without a restart (README "Changing rules in production"): `files` watches
    # `rules` (every `rules_poll_s`; 0: only on SIGHUP); `kafka` follows `rules_topic`, where
    # `screener rules publish` writes packs. Each worker reports its version on `status_topic`
    # ("" turns that off).
    rules_source: Literal["files", "kafka"] = "files"
    rules_poll_s: float = Field(default=1.0, ge=0)
    rules_topic: str = defaults.RULES_TOPIC
    status_topic: str = defaults.STATUS_TOPIC
    model: str | None = None
    """learned-model directory replacing the one the packs declare (`--model`)."""
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    # all interfaces by default: a pod's scraper reaches it on the pod IP; 127.0.0.1 keeps
    # /metrics, /healthz and /readyz on the host only
    metrics_host: str = "0.0.0.0"
    guarantee: Literal["at-least-once", "exactly-once"] = "at-least-once"
    # exactly-once: ids are `{prefix}-{worker index}`; default prefix `{group_id}-screener`
    transactional_id_prefix: str | None = None
    transaction_timeout_ms: int = Field(default=60_000, ge=1000)

    # Producer and batching, tuned with `screener bench pipeline` (numbers in its module doc):
    # 2000 records per batch: larger batches bought nothing once acks and commits overlap the
    # next batch's screening, and they add latency. linger 0: a batch's output is enqueued all
    # at once and then awaited, so lingering only delayed the acks. 512 KiB producer batches
    # hold a whole batch's output per partition. lz4 costs the worker almost nothing (it
    # writes ~5% of what it reads) and shrinks the review topic.
    # Re-swept with the behaviour pack on (`bench pipeline --sweep`, README "Latency, and the
    # client settings measured"): no knob moved record -> review latency beyond the noise.
    batch_max_records: int = Field(default=2000, ge=1)
    # at-least-once: input offsets, with the behaviour state's changelog of the batches since
    # the last commit (one record per key changed), are committed once this long has passed
    # or `commit_every` records (0: no count bound) were screened since; review items go out
    # batch by batch regardless (pipeline/commits.py). 0: every batch commits. Default 1 s
    # (Quix Streams' default is 5 s, Kafka Streams' 30 s): measured with the behaviour pack on
    # Apache Kafka (README "Latency"), it cut CPU per message ~27 % and p99 at half load ~55 %,
    # because a busy user's state is written once a second instead of once a batch; a crash
    # replays at most ~1 s of input (at-least-once). Exactly-once: one transaction per batch.
    commit_interval_ms: int = Field(default=1000, ge=0)
    commit_every: int = Field(default=0, ge=0)
    # each input partition's interval on its own phase, so a batch closes one partition's
    # share of the changelog, not every partition's at once (pipeline/commits.py); False:
    # every partition closes in the same batch
    commit_stagger: bool = True
    # at-least-once with behaviour state: send the changelog through a producer (connection)
    # of its own, so the review output is not queued behind a commit interval's large flush
    # (aiokafka sends one produce request per broker at a time; pipeline.delivery.AtLeastOnce).
    # Off by default: on a quiet host the one-producer p99 at half load was lower (228 vs 509 ms)
    changelog_producer: bool = False
    batch_timeout_ms: int = Field(default=100, ge=1)
    # how long the broker may hold a fetch when no data is waiting; Tansu holds it this long
    # even when data arrives, so it bounds end-to-end latency there (Kafka answers at once)
    fetch_max_wait_ms: int = Field(default=100, ge=0)
    linger_ms: int = Field(default=0, ge=0)
    max_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    # the behaviour state's changelog records (only screener reads them back): zstd, since
    # aiokafka's lz4 (HC, level 9) cost ~8 ms a 6,000-event flush on the event loop against
    # ~1 for zstd, which is a third smaller too (kafka.send.RecordBatches). zstd needs
    # Kafka >= 2.1; `same` follows `compression`
    changelog_compression: Literal["same", "none", "gzip", "snappy", "lz4", "zstd"] = "zstd"
    # the changelog's record batches, before compression: aiokafka sends one request per
    # broker at a time with one batch per partition, so review items queue behind at most one
    # request of this much changelog per partition (a flush goes out in several), not behind
    # the whole flush (README "Latency")
    changelog_batch_bytes: int = Field(default=64 * 1024, ge=1024)
    create_topics: bool = True
    topic_partitions: int = Field(default=6, ge=1)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    shutdown_timeout_s: float = Field(default=20.0, gt=0)
    # how long to wait for a broker at start-up (retrying with backoff); None: for ever
    connect_timeout_s: float | None = Field(default=None, gt=0)
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_text_chars: int = Field(default=DEFAULT_MAX_TEXT_CHARS, ge=1)
    # Behaviour state (README "Behaviour state in the service"): at most this many keys per
    # store per worker (users; campaign signatures), shared among the input partitions;
    # a restore that cannot read a changelog to its end in this time fails the worker
    state_capacity: int = Field(default=1_000_000, ge=1024)
    # the changelog's record version (state/sparse.py): 2 writes only the cells that hold
    # something (~5x smaller); 1 is what workers before it read (a rolling upgrade). Both restore
    state_changelog_format: int = Field(default=2, ge=1, le=2)
    state_restore_timeout_s: float = Field(default=300.0, gt=0)
    # an output record larger than this goes to the DLQ in a cut form (pipeline/refused.py):
    # keep it at or below the output topics' max.message.bytes (Kafka's default: 1 MiB)
    max_output_bytes: int = Field(default=1_000_000, ge=70_000)

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    # secrets: never in repr/logs; prefer SCREENER_SASL_PASSWORD or a file (a k8s Secret
    # volume) to a flag, which every user of the host can read in the process list
    sasl_password: str | None = Field(default=None, repr=False)
    sasl_password_file: Path | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    """client certificate (PEM) for brokers that require TLS client authentication"""
    ssl_keyfile: str | None = None

    @model_validator(mode="after")
    def _password_from_file(self) -> Settings:
        if self.sasl_password_file is not None:
            try:
                text = self.sasl_password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"sasl_password_file: {exc.strerror}") from None
            if self.sasl_password not in (None, text):
                raise ValueError("give sasl_password or sasl_password_file, not both")
            self.sasl_password = text
        return self

    @field_validator("input_topics", "rules", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


def load_settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    """Merge a YAML/JSON config file under the environment and explicit flags."""
    file_values: dict[str, Any] = {}
    if config is not None:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config}: expected a mapping of setting names to values")
        file_values = {k.replace("-", "_"): v for k, v in loaded.items()}
    from_env = Settings()
    env_set = {k: getattr(from_env, k) for k in from_env.model_fields_set}
    merged = {**file_values, **env_set, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings.model_validate(merged)
