"""Tracking's settings (SAMAD_ prefix): its database, data files, timers and the citizen lookup limit."""

from __future__ import annotations

from pydantic import Field, IPvAnyNetwork

from services.common.settings import ServiceSettings
from services.tracking.domain.lookup_limits import LookupLimits


class TrackingSettings(ServiceSettings):
    db_name: str = "samad_tracking"
    # Another directory holding sla.yaml and holidays.yaml (SAMAD_TRACKING_DATA_DIR).
    tracking_data_dir: str | None = None
    # How often the timer job looks for passed deadlines and cases to close; 0 turns it off
    # (SAMAD_SWEEP_INTERVAL_SECONDS). Every replica runs it; claims keep the work single.
    sweep_interval_seconds: float = 60.0
    sweep_batch_size: int = 500
    # Case documents the consumer keeps after writing them, so the next events of a case need no read
    # (SAMAD_PROJECTION_CACHE_SIZE; 0 turns it off). About 20 KB each in memory: 1,000 covers the cases
    # in flight at saturation here (a case's events come within seconds) and keeps tracking near 100 MB.
    projection_cache_size: int = 1000
    # A claimed piece of timer work that was not finished (its replica died) is free again after this.
    claim_lease_seconds: float = 120.0
    # The longest period a report covers, in days (SAMAD_REPORT_MAX_DAYS): a longer one is refused with
    # a 422 naming "from". A Solar Hijri year has at most 366 days.
    report_max_days: int = Field(366, gt=0)
    # Period reports add up daily rollups kept by tracking (SAMAD_REPORT_ROLLUPS; false: count the
    # cases at every report), recomputed every ROLLUP_INTERVAL_SECONDS for the days that changed (0:
    # never in the background; a changed day is then computed when a report asks for it).
    report_rollups: bool = True
    rollup_interval_seconds: float = Field(5.0, ge=0)
    # A day still being marked is folded once no batch marked it for this long (or once it gathers
    # enough new facts); a report computes it meanwhile.
    rollup_settle_seconds: float = Field(30.0, ge=0)
    # The citizen status lookup's limits, counted in the database and so shared by every replica:
    # each client may look up STATUS_CLIENT_ATTEMPTS times per STATUS_CLIENT_WINDOW_SECONDS; each
    # tracking code may be answered wrongly (a wrong phone) STATUS_CODE_FAILURES times per
    # STATUS_CODE_WINDOW_SECONDS, whatever the address, and then answers 429 until its window ends.
    status_client_attempts: int = Field(10, gt=0)
    status_client_window_seconds: int = Field(60, gt=0)
    status_code_failures: int = Field(5, gt=0)
    status_code_window_seconds: int = Field(3600, gt=0)
    # The proxies whose X-Forwarded-For is believed (SAMAD_TRUSTED_PROXIES, a JSON list of CIDRs: the
    # ingress controller's range). A request from any other peer is counted under the peer's address.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # The staff directory (who works for which agency, who heads it, their phones): Keycloak's admin
    # API for the realm, read with the services' account (SAMAD_DIRECTORY_URL; default: derived from
    # SAMAD_AUTH_ISSUER, .../admin/realms/<realm>). Answers are kept DIRECTORY_CACHE_SECONDS.
    directory_url: str | None = None
    directory_cache_seconds: float = Field(120.0, ge=0)
    # The read audit (who read which case's personal data) is written in the background: in batches of
    # READ_AUDIT_BATCH_SIZE, or every READ_AUDIT_INTERVAL_SECONDS, and whatever is left at a clean stop.
    read_audit_batch_size: int = Field(500, gt=0)
    read_audit_interval_seconds: float = Field(1.0, gt=0)
    # Test only (refused in production): a file holding a number of seconds added to tracking's clock,
    # so a browser test can move a running service past a deadline (SAMAD_TEST_CLOCK_FILE).
    test_clock_file: str | None = None

    @property
    def lookup_limits(self) -> LookupLimits:
        return LookupLimits(
            client_attempts=self.status_client_attempts,
            client_window_seconds=self.status_client_window_seconds,
            code_failures=self.status_code_failures,
            code_window_seconds=self.status_code_window_seconds,
        )
