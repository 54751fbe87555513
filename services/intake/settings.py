"""Intake's settings (SAMAD_ prefix), on top of the ones every service shares."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from services.common.settings import ServiceSettings
from services.intake.domain.cases import RepeatPolicy

DEV_OPEN311_KEY = "samad-local-open311-key"  # noqa: S105 - local development only; set SAMAD_OPEN311_API_KEYS


class IntakeSettings(ServiceSettings):
    db_name: str = "samad_intake"
    # Repeat calls: a new case from the same phone with a near-identical description (token-sorted
    # similarity at least this, 0..1) within this many days of an open case is linked to that case.
    repeat_window_days: float = 30.0
    repeat_similarity: float = 0.85
    # An accepted request is in Kafka (acks=all) before the answer; waiting longer than this is a 503.
    publish_timeout_seconds: float = 10.0
    retry_after_seconds: int = 5
    # A request that holds an Idempotency-Key this long without finishing (a crashed replica) is taken over.
    idempotency_pending_seconds: float = 30.0
    max_body_bytes: int = 64 * 1024
    # Open311 reads case status from tracking's staff API.
    tracking_url: str = "http://127.0.0.1:8002"
    tracking_timeout_seconds: float = 2.0
    open311_api_keys: list[str] = Field(default_factory=lambda: [DEV_OPEN311_KEY])
    open311_contact: str = "مرکز سامد استانداری خراسان رضوی، تلفن ۱۱۱"

    @property
    def repeat_policy(self) -> RepeatPolicy:
        return RepeatPolicy(window=timedelta(days=self.repeat_window_days), threshold=self.repeat_similarity)
