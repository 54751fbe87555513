"""Tracking's pure domain: the case state machine, calendar, SLAs, access, periods, views and reports (no I/O)."""
