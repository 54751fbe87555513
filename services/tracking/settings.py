"""Tracking's settings (SAMAD_ prefix): its database, data files, timers and the citizen lookup limit."""

from __future__ import annotations

from services.common.settings import ServiceSettings


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
    # Citizen status lookups per client: a burst, then this many per minute.
    status_rate_per_minute: float = 10.0
    status_burst: int = 5
    # Take the client address from X-Forwarded-For (only behind a proxy that sets it).
    trust_forwarded_for: bool = False
