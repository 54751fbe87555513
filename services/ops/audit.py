"""Every operator action leaves a record: who, when, with which arguments, and how it ended."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from services.ops.adapters.store import OpsStore, utcnow

log = logging.getLogger("samad.ops.audit")


class Refused(Exception):
    """The action was not carried out, on purpose; the message says why."""


class AuditUnavailable(RuntimeError):
    """A changing action does not run when it cannot be recorded."""


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


@dataclass
class Action:
    id: str
    command: str
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        self.outcome = "refused"
        self.detail["refused"] = reason


class Auditor:
    def __init__(self, store: OpsStore, actor: str | None = None) -> None:
        self.store = store
        self.actor = actor or default_actor()
        self.host = socket.gethostname()

    @asynccontextmanager
    async def action(
        self, command: str, arguments: dict[str, Any], *, changes: bool
    ) -> AsyncIterator[Action]:
        """Record the action before it runs and its outcome after. If the record cannot be written, an
        action that changes something (publishes, resets, swaps) does not run; a read-only one warns."""
        action = Action(id=str(uuid.uuid4()), command=command)
        entry = {
            "_id": action.id,
            "command": command,
            "arguments": {k: _plain(v) for k, v in arguments.items()},
            "actor": self.actor,
            "os_user": default_actor(),
            "host": self.host,
            "pid": os.getpid(),
            "changes": changes,
            "started_at": utcnow(),
            "outcome": "running",
        }
        recorded = True
        try:
            await self.store.audit_begin(entry)
        except Exception as exc:
            if changes:
                raise AuditUnavailable(
                    f"cannot write the audit record, not running {command}: {exc}"
                ) from exc
            log.warning("audit record not written for %s: %s", command, exc)
            recorded = False
        try:
            yield action
        except Refused as exc:
            action.refuse(str(exc))
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):
            action.outcome = "interrupted"
            raise
        except BaseException as exc:
            action.outcome = "failed"
            action.detail["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            raise
        finally:
            if recorded:
                fields = {
                    "finished_at": utcnow(),
                    "outcome": action.outcome,
                    "detail": {k: _plain(v) for k, v in action.detail.items()},
                }
                try:
                    await asyncio.shield(self.store.audit_end(action.id, fields))
                except Exception as exc:
                    log.warning("audit outcome not written for %s: %s", command, exc)


def _plain(value: Any) -> Any:
    """What MongoDB can store and a reader can read: no Paths, enums or dataclasses."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        # MongoDB field names cannot hold "." or start with "$" (topic names have dots).
        return {str(k).replace(".", "\uff0e").lstrip("$"): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)
