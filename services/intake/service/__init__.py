"""Intake's use cases: log a call, register a case, keep the case view, import a call log, Open311."""
