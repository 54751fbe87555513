"""What the audit trail records of an operator action: who acts, the action's outcome, and its
arguments in a form MongoDB can store and a reader can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Operator:
    """Who runs the tools, and where: ``actor`` is who they say they are (``--actor``), ``os_user`` who
    the machine says they are."""

    actor: str
    os_user: str
    host: str
    pid: int


@dataclass
class Action:
    id: str
    command: str
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        self.outcome = "refused"
        self.detail["refused"] = reason


def plain(value: Any) -> Any:
    """What MongoDB can store and a reader can read: no Paths, enums or dataclasses."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        # MongoDB field names cannot hold "." or start with "$" (topic names have dots).
        return {str(k).replace(".", "\uff0e").lstrip("$"): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return str(value)
