"""Tracking: the case lifecycle projected from the event log, staff and citizen APIs, SLAs and reports."""
