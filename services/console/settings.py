"""The console's settings (SAMAD_ prefix): where the other services answer, the sign-in client, the
session and the one-time codes of the online form."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    db_name: str = "samad_console"
    intake_url: str = "http://127.0.0.1:8001"
    tracking_url: str = "http://127.0.0.1:8002"
    notify_url: str = "http://127.0.0.1:8003"
    routing_url: str = "http://127.0.0.1:8004"
    # The console's own address as browsers reach it: the sign-in redirect is built from it, and its
    # cookies are Secure when it is https (SAMAD_CONSOLE_URL).
    console_url: str = "http://127.0.0.1:8005"
    # The public OpenID Connect client of the console (authorisation code with PKCE).
    console_client_id: str = "samad-console"
    api_timeout_seconds: float = 5.0
    # A signed-in session ends after this long without a request.
    session_idle_minutes: int = 60
    # The online form's one-time code: how long it lives, how many wrong tries it takes, and how many
    # codes one phone and one address may ask for in an hour.
    otp_minutes: int = 5
    otp_attempts: int = 5
    otp_per_phone_hour: int = 3
    otp_per_address_hour: int = 10
    # The console reads the topics only to tell browsers what changed: from the log's end.
    consumer_offset_reset: str = "latest"
    # Addresses of the proxies in front of the console whose X-Forwarded-For is believed (JSON list of
    # networks, SAMAD_TRUSTED_PROXIES); others are counted by their own address.
    trusted_proxies: list[str] = Field(default_factory=list)
    # The inbox's ready answers (SAMAD_RESPONSES_PATH; default: services/console/data/responses.yaml).
    responses_path: str | None = None
