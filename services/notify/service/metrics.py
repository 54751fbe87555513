"""Notify's Prometheus metrics, shared by its use cases."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SMS_RECORDED = Counter("samad_notify_sms_recorded_total", "Ledger records created", ["template", "state"])
SMS_DUPLICATES = Counter("samad_notify_duplicate_events_total", "Events whose SMS was already in the ledger")
SMS_OUTCOMES = Counter("samad_notify_sms_transitions_total", "Ledger transitions", ["provider", "state"])
SMS_SEND_ERRORS = Counter("samad_notify_send_errors_total", "Provider errors", ["provider", "kind"])
RECEIPTS = Counter("samad_notify_receipts_total", "Delivery receipts", ["provider", "result"])
REPLAYED = Counter("samad_notify_replayed_events_total", "Replayed events seen", ["outcome"])
OPT_OUTS = Counter("samad_notify_opt_outs_total", "Opt-outs and opt-ins", ["source", "action"])
UNKNOWN_OUTCOMES = Gauge("samad_notify_unknown_outcomes", "Ledger records whose outcome is unknown")
UNMATCHED_RECEIPTS = Gauge(
    "samad_notify_unmatched_receipts", "Delivery receipts kept past the wait without a matching SMS part"
)
