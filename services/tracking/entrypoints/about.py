"""What tracking says about itself in its OpenAPI and AsyncAPI documents."""

from __future__ import annotations

TITLE = "SAMAD-111 tracking"
VERSION = "1.0.0"
DESCRIPTION = """The memory of every case: its lifecycle projected from the event log, and the views on it.

* Consumes every event of `samad.cases.v1` and `samad.notifications.v1`, and `call.received` from
  `samad.calls.v1` (for the funnel). Publishes staff actions (`case.status_changed`,
  `case.reroute_requested`, `case.note_added`), `case.sla_breached` and the closing of quiet cases.
* Staff (bearer token): the agency queue, a case with its timeline, actions on a case.
* Citizens: `GET /v1/status/{tracking_code}?phone=...` (the phone or its last four digits).
* Reports: the funnel, per agency, per county, per week; JSON or CSV.
* Errors are RFC 9457 problem documents in Persian and English.
"""
