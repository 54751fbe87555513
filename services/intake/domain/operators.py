"""Whom a call or a case is logged as: operators act as themselves, a supervisor for a named operator.

The operator id travels on ``call.received`` and ``case.registered`` and feeds the per-operator
figures, so an operator must not be able to log work under a colleague's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.events import CallOutcome

# The role (services.common.auth.Role, a string enum) that may act only as itself.
OPERATOR_ROLE = "operator"


@dataclass(frozen=True)
class Acting:
    """Who sends the request, as their token says."""

    subject: str
    role: str


class ActingAsAnother(Exception):
    """An operator named another operator: only a supervisor may log on someone's behalf."""

    def __init__(self, acting: Acting, named: str) -> None:
        super().__init__(f"{acting.subject} ({acting.role}) may not act as {named}")
        self.acting = acting
        self.named = named


def acting_operator(acting: Acting, named: str | None) -> str:
    """The operator a request is logged as: the named one when a supervisor names one, else the sender.

    Raises ``ActingAsAnother`` when an operator names anyone but themselves."""
    if acting.role != OPERATOR_ROLE:
        return named or acting.subject
    if named is not None and named != acting.subject:
        raise ActingAsAnother(acting, named)
    return acting.subject


def case_operator(named: str | None, acting: Acting | None) -> str | None:
    """The operator a case is registered by; without a sender (an import, Open311) the named one."""
    if acting is None:
        return named
    return acting_operator(acting, named)


def call_operator(named: str | None, outcome: CallOutcome, acting: Acting | None) -> str | None:
    """The operator a call is logged with. Nobody answered a missed or abandoned call: unless an
    operator is named, it carries none (not the sender, who only logs it)."""
    if acting is None:
        return named
    operator = acting_operator(acting, named)
    if outcome != CallOutcome.answered and named is None:
        return None
    return operator
