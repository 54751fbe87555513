"""Settings of the operator tools (SAMAD_ prefix), on top of what every service shares."""

from __future__ import annotations

from services.common.settings import ServiceSettings


class OpsSettings(ServiceSettings):
    # Audit trail, re-drive ledger, rebuild locks and checkpoints.
    db_name: str = "samad_ops"
    # Where tracking keeps its case projection (the live collection a rebuild compares and swaps).
    tracking_db_name: str = "samad_tracking"
    tracking_collection: str = "cases"
    # Tracking's SLA and holiday files (the same SAMAD_TRACKING_DATA_DIR the service reads), so a
    # rebuild computes the same deadlines as the live projection.
    tracking_data_dir: str | None = None
    # Naive times typed by an operator ("2025-03-01 08:00", "1403-12-11 08:00") are read in this zone.
    ops_timezone: str = "Asia/Tehran"
    # Reorder right-to-left text for terminals that do not implement BiDi themselves.
    cli_bidi: bool = False
    # A rebuild lock not renewed for this long is considered abandoned and may be claimed.
    rebuild_lock_seconds: float = 60.0
    # The trace receiver's query API (Jaeger), for `samad trace`; `SAMAD_TRACING=1 make up` starts it here.
    jaeger_url: str = "http://127.0.0.1:16686"
    # Events fetched and applied per rebuild step (one batched write per step).
    rebuild_batch_size: int = 5000
    # The retention policy `samad privacy purge` applies (YAML; default services/ops/data/retention.yaml).
    privacy_retention_file: str | None = None
