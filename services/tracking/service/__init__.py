"""Tracking's use cases: project the log, look cases up, act on them, run the timers, count the reports."""
