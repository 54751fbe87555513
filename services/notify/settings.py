"""Notify's settings (``SAMAD_`` environment variables on top of the shared ones)."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork

from services.common.settings import ServiceSettings
from services.notify.domain.policy import QuietHours, RetryPolicy


class NotifySettings(ServiceSettings):
    db_name: str = "samad_notify"

    # Which gateway sends: the local JSON Lines file, an SMSC over SMPP 3.4, or Kavenegar's REST API.
    sms_provider: Literal["file", "smpp", "kavenegar"] = "file"
    sms_file_path: Path = Path(".local/dev/sms-outbox.jsonl")
    # Inbound SMS for the file provider: append {"from": "+98...", "text": "لغو"} lines to opt out.
    sms_inbox_path: Path = Path(".local/dev/sms-inbox.jsonl")
    # The file "gateway" reports every SMS delivered as soon as it is written.
    sms_file_auto_deliver: bool = True

    sms_smpp_host: str = "127.0.0.1"
    sms_smpp_port: int = 2775
    sms_smpp_system_id: str = "samad"
    sms_smpp_password: str = ""
    sms_smpp_system_type: str = ""
    sms_smpp_source: str = "111"
    sms_smpp_enquire_link_seconds: float = 30.0
    sms_smpp_response_timeout_seconds: float = 10.0
    # SMPP over TLS, where the gateway offers it (SAMAD_SMS_SMPP_TLS): the SMSC's certificate is verified
    # against SMS_SMPP_TLS_CA_FILE (else the system's CAs) and its name against the host (or
    # SMS_SMPP_TLS_SERVER_NAME when the certificate names the gateway otherwise).
    sms_smpp_tls: bool = False
    sms_smpp_tls_ca_file: str | None = None
    sms_smpp_tls_server_name: str | None = None

    # The read audit (who read which case's personal data) is tracking's: notify sends the reads of its
    # ledger there (SAMAD_TRACKING_URL, with the services' client credentials), in batches of
    # READ_AUDIT_BATCH_SIZE or every READ_AUDIT_INTERVAL_SECONDS. The client address is the peer's, or
    # behind these proxies the X-Forwarded-For hop (SAMAD_TRUSTED_PROXIES, as tracking's).
    tracking_url: str = "http://127.0.0.1:8002"
    read_audit_batch_size: int = Field(500, gt=0)
    read_audit_interval_seconds: float = Field(1.0, gt=0)
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    sms_kavenegar_api_key: str = ""
    sms_kavenegar_base_url: str = "https://api.kavenegar.com"
    sms_kavenegar_sender: str = ""
    sms_kavenegar_timeout_seconds: float = 10.0

    # Messages per second to the provider (a token bucket per replica).
    sms_rate_per_second: float = 20.0
    sms_rate_burst: int = 20
    sms_sender_concurrency: int = 4
    sms_template_path: Path | None = None  # None: the templates shipped with the service

    # Events older than this are recorded as skipped_stale, not sent (replays, long outages).
    sms_stale_after_hours: float = 24.0
    # Quiet hours in Tehran time: non-urgent SMS wait for the end of the window.
    sms_quiet_hours: bool = True
    sms_quiet_start: time = time(22, 0)
    sms_quiet_end: time = time(8, 0)

    # Retries: in-call attempts with exponential back-off, then later claims, then failed.
    sms_retry_attempts: int = 4
    sms_retry_initial_seconds: float = 0.5
    sms_retry_max_seconds: float = 8.0
    sms_retry_max_claims: int = 6
    sms_requeue_initial_seconds: float = 30.0
    sms_requeue_max_seconds: float = 1800.0

    # A replica holds a claimed record this long; if it dies, the record becomes unknown after it.
    sms_lease_seconds: float = 120.0
    # How often the ledger is searched for due records nobody handed to this replica's senders (a
    # stopped replica's): records it wrote itself, deferred or requeued are sent when due anyway.
    sms_poll_seconds: float = 15.0
    # How often the reconciler looks for expired leases, unknown outcomes, records to poll and events
    # still owed: one ledger query, which reads the whole ledger on FerretDB 1.x. Each of these waits
    # 30 s or more anyway (outbox grace, status poll, lease), so a round every 15 s adds little delay.
    sms_reconcile_seconds: float = 15.0
    sms_status_poll_seconds: float = 60.0  # ask the provider about records submitted this long ago
    # Events still owed this long after their record changed are published by the reconciler (their
    # writer died or stalled before publishing them).
    sms_outbox_grace_seconds: float = 30.0
    # A receipt naming a message id no record knows is kept this long for the id to be recorded
    # (its part's answer is being written, or the receipt overtook it), then reported as unmatched.
    sms_receipt_match_seconds: float = 600.0

    # Test only: exit the process right after the provider accepted a message and before the ledger
    # records it, to prove that a crash at the worst moment sends nothing twice.
    sms_test_crash_after_submit: bool = False

    @property
    def stale_after(self) -> timedelta:
        return timedelta(hours=self.sms_stale_after_hours)

    @property
    def quiet_hours(self) -> QuietHours:
        return QuietHours(self.sms_quiet_start, self.sms_quiet_end, self.sms_quiet_hours)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.sms_retry_attempts,
            initial=self.sms_retry_initial_seconds,
            max_delay=self.sms_retry_max_seconds,
            max_claims=self.sms_retry_max_claims,
            requeue_initial=self.sms_requeue_initial_seconds,
            requeue_max=self.sms_requeue_max_seconds,
        )
