"""Settings shared by every service, read from the environment with the SAMAD_ prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.catalogue import DEFAULT_PROVINCE


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMAD_", env_file=".env", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Kafka client security. Empty mechanism and kafka_tls=false mean plaintext (the local stack);
    # production uses Strimzi's SCRAM-SHA-512 listener over TLS with the cluster CA in kafka_ca_file.
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_tls: bool = False
    kafka_ca_file: str = ""
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    province: str = DEFAULT_PROVINCE
    http_host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = False
    # Consumer behaviour: a new consumer group starts from the beginning of the log so nothing is missed.
    consumer_offset_reset: str = "earliest"
    consumer_batch_size: int = 500
    consumer_group_prefix: str = "samad"
    # How long a consumer keeps retrying an infrastructure failure (MongoDB or Kafka down) in place
    # before it rewinds the batch and fetches it again.
    consumer_retry_seconds: float = 30.0
    # A handler error that is not an infrastructure failure is retried this many times, then dead-lettered.
    consumer_max_attempts: int = 3
    # After a batch could not be finished (e.g. its dead letters could not be written), wait this long
    # before it is fetched again.
    consumer_rewind_pause_seconds: float = 1.0
    # Graceful shutdown: how long to finish the batch in hand after SIGTERM.
    graceful_timeout_seconds: float = 20.0
    # Readiness also waits until every consumer has its partitions (tests use it to avoid racing
    # a consumer that starts at the log's end); off in production, where spare replicas stay idle.
    ready_requires_assignment: bool = False
    # Distributed tracing (OpenTelemetry): off unless an OTLP/HTTP receiver is named, e.g.
    # http://127.0.0.1:4318 (the local stack's Jaeger with SAMAD_TRACING=1). Spans go to <url>/v1/traces.
    otlp_endpoint: str = ""
    # Also send every span to a Zipkin server's HTTP collector (e.g. http://127.0.0.1:9411, which
    # `SAMAD_TRACING=1 make up` starts for its web UI): <url>/api/v2/spans. Only with otlp_endpoint.
    zipkin_endpoint: str = ""
    # The share of new traces kept (a trace started upstream keeps its caller's decision).
    tracing_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Crypto-shredding (services/common/sealing.py, docs/privacy.md): the key-encryption keys
    # ("id:base64key,...", the first wraps) and the index key that turns a phone into its citizen's key
    # id, both from a Secret. Empty: personal fields travel and are stored in plain form (unit tests).
    keks: str = ""
    index_key: str = ""
    # How long an unwrapped data key stays in memory (an erasure reaches other processes within it).
    key_cache_seconds: float = Field(default=60.0, ge=0.0)
    # Public base URL used in answers and SMS (status links).
    public_base_url: str = "http://127.0.0.1:8002"

    def group(self, service: str) -> str:
        return f"{self.consumer_group_prefix}.{service}"
