"""Tracking's pure domain: the case state machine, working calendar, SLAs, views and reports (no I/O)."""
