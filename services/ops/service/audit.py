"""Every operator action leaves a record: who, when, with which arguments, and how it ended."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from services.common.clock import Clock
from services.ops.adapters.store import AuditStore
from services.ops.domain.audit import Action, Operator, plain
from services.ops.service.errors import AuditUnavailable, Refused

logger = logging.getLogger("samad.ops.audit")


class Auditor:
    def __init__(self, store: AuditStore, operator: Operator, clock: Clock) -> None:
        self.store = store
        self.operator = operator
        self.clock = clock

    @property
    def actor(self) -> str:
        return self.operator.actor

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
            "arguments": {k: plain(v) for k, v in arguments.items()},
            "actor": self.operator.actor,
            "os_user": self.operator.os_user,
            "host": self.operator.host,
            "pid": self.operator.pid,
            "changes": changes,
            "started_at": self.clock.now(),
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
            logger.warning("audit record not written for %s: %s", command, exc)
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
                    "finished_at": self.clock.now(),
                    "outcome": action.outcome,
                    "detail": {k: plain(v) for k, v in action.detail.items()},
                }
                try:
                    await asyncio.shield(self.store.audit_end(action.id, fields))
                except Exception as exc:
                    logger.warning("audit outcome not written for %s: %s", command, exc)


class AuditTrail:
    """``samad audit``: the operator actions, newest first."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def list(
        self, *, actor: str | None = None, command: str | None = None, limit: int = 30
    ) -> list[dict[str, Any]]:
        return await self.store.audit_list(actor=actor, command=command, limit=limit)
