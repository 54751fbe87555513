"""How a use case says no: refused on purpose, or not run because it could not be audited."""

from __future__ import annotations


class Refused(Exception):
    """The action was not carried out, on purpose; the message says why."""


class AuditUnavailable(RuntimeError):
    """A changing action does not run when it cannot be recorded."""
