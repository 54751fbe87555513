"""`samad privacy`: erasure and export with two-person approval, retention, KEK rotation (docs/privacy.md).

Every action is audited with the citizen's key id, never their phone: who asked, who approved, when.
Erasure destroys the citizen's data key, so every copy of their personal data (topics, dumps, dead
letters, projections rebuilt later) can no longer be opened. Export opens what tracking holds of the
citizen's cases into one JSON document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from contracts.sealed import ERASED_FA, Sealed
from services.common.clock import Clock
from services.common.sealing import Sealer
from services.ops.adapters.privacy import CitizenCases, PrivacyRequests
from services.ops.domain.privacy import (
    NotAllowed,
    PrivacyAction,
    PrivacyRequest,
    RetentionPolicy,
    approved,
    check_requester,
    due_for_erasure,
)
from services.ops.service.audit import Auditor
from services.ops.service.errors import Refused


@dataclass(frozen=True)
class Approval:
    request: PrivacyRequest
    outcome: str
    export: dict[str, Any] | None = None


@dataclass(frozen=True)
class PurgePlan:
    citizens: list[str]  # key ids whose personal data the policy erases
    cases: int  # their cases
    sealed_citizens: int  # every citizen with sealed data


def _sealed(value: Any) -> Sealed | None:
    return Sealed.model_validate(value) if isinstance(value, dict) else None


class Privacy:
    def __init__(
        self,
        requests: PrivacyRequests,
        cases: CitizenCases,
        sealer: Sealer | None,
        auditor: Auditor,
        clock: Clock,
    ) -> None:
        self.requests = requests
        self.cases = cases
        self.sealer = sealer
        self.auditor = auditor
        self.clock = clock

    def _needs_sealer(self) -> Sealer:
        if self.sealer is None:
            raise Refused(
                "no sealing keys configured (SAMAD_KEKS, SAMAD_INDEX_KEY): nothing is sealed to erase"
            )
        return self.sealer

    async def ask(
        self, action: PrivacyAction, phone: str, subject: str, roles: Iterable[str]
    ) -> PrivacyRequest:
        """Record a request by ``subject`` (ops) for another member of ops to approve."""
        sealer = self._needs_sealer()
        try:
            check_requester(subject, roles)
            kid = sealer.key_id(phone)
        except (NotAllowed, ValueError) as exc:
            raise Refused(str(exc)) from exc
        request = PrivacyRequest(
            id=str(uuid.uuid4()), action=action, kid=kid, requested_by=subject, requested_at=self.clock.now()
        )
        arguments = {"request_id": request.id, "kid": kid, "requested_by": subject}
        async with self.auditor.action(f"privacy request {action.value}", arguments, changes=True):
            await self.requests.add(request)
        return request

    async def approve(self, request_id: str, subject: str, roles: Iterable[str]) -> Approval:
        """Carry out a request approved by ``subject``, a member of ops other than the requester."""
        sealer = self._needs_sealer()
        request = await self.requests.get(request_id)
        if request is None:
            raise Refused(f"no privacy request {request_id}")
        now = self.clock.now()
        arguments = {
            "request_id": request.id,
            "kid": request.kid,
            "requested_by": request.requested_by,
            "requested_at": request.requested_at,
            "approved_by": subject,
        }
        async with self.auditor.action(f"privacy {request.action.value}", arguments, changes=True) as audit:
            try:
                accepted = approved(request, subject, roles, now)
            except NotAllowed as exc:
                raise Refused(str(exc)) from exc
            # Marked done first, so two approvals at once carry it out once.
            if not await self.requests.finish(accepted, "approved"):
                raise Refused(f"request {request.id} was already carried out")
            if request.action is PrivacyAction.erase:
                had_key = await sealer.erase(request.kid)
                outcome = "erased" if had_key else "no data key (erased before, or never sealed)"
                audit.detail["outcome"] = outcome
                return Approval(accepted, outcome)
            export = await self.export(request.kid)
            outcome = f"exported {len(export['cases'])} case(s)"
            audit.detail["outcome"] = outcome
            return Approval(accepted, outcome, export)

    async def _open(self, value: Any, field: str, case_id: str) -> str | None:
        sealed = _sealed(value)
        if sealed is None or self.sealer is None:
            return None
        opened = await self.sealer.open(sealed, field, case_id)
        return opened if opened is not None else ERASED_FA

    async def export(self, kid: str) -> dict[str, Any]:
        """What tracking holds of the citizen's cases, opened: the citizen's own data and each case."""
        docs = sorted(await self.cases.of_citizen(kid), key=lambda d: str(d.get("registered_at") or ""))
        citizen: dict[str, Any] = {}
        cases = []
        for doc in docs:
            case_id = str(doc["_id"])
            c = doc.get("citizen") or {}
            for name in ("phone", "name", "national_id"):
                value = c.get(name) or await self._open(c.get(f"{name}_sealed"), f"citizen.{name}", case_id)
                if value and not citizen.get(name):
                    citizen[name] = value
            timeline = []
            for entry in doc.get("timeline") or []:
                text = entry.get("text") or ""
                if entry.get("sealed"):
                    text = f"{text}: {await self._open(entry['sealed'], 'description', case_id)}"
                timeline.append({"time": entry.get("time"), "type": entry.get("type"), "text": text})
            cases.append(
                {
                    "case_id": case_id,
                    "tracking_code": doc.get("tracking_code"),
                    "registered_at": doc.get("registered_at"),
                    "status": doc.get("status"),
                    "agency": doc.get("agency"),
                    "category": doc.get("category"),
                    "subject": doc.get("subject"),
                    "description": doc.get("description")
                    or await self._open(doc.get("description_sealed"), "description", case_id),
                    "answer": doc.get("answer"),
                    "timeline": timeline,
                    "sms": [
                        {k: s.get(k) for k in ("template", "status", "sent_at", "delivered_at")}
                        for s in doc.get("sms") or []
                    ],
                }
            )
        return {"citizen": citizen, "cases": cases, "exported_at": self.clock.now()}

    async def plan_purge(self, policy: RetentionPolicy) -> PurgePlan:
        """Who the retention policy erases now (nothing is changed)."""
        rows = [c async for c in self.cases.all_cases()]
        due = due_for_erasure(rows, self.clock.now(), policy)
        wanted = set(due)
        return PurgePlan(due, sum(1 for r in rows if r.kid in wanted), len({r.kid for r in rows}))

    async def purge(
        self, policy: RetentionPolicy, *, apply: bool, progress: Callable[[int, int], None] | None = None
    ) -> tuple[PurgePlan, int]:
        """The plan, and with ``apply`` its erasures carried out (how many keys were destroyed)."""
        plan = await self.plan_purge(policy)
        arguments = {"apply": apply, "erase_after_days": policy.erase_after.days}
        erased = 0
        async with self.auditor.action("privacy purge", arguments, changes=apply) as audit:
            audit.detail.update(citizens=len(plan.citizens), cases=plan.cases)
            if apply:
                sealer = self._needs_sealer()
                for n, kid in enumerate(plan.citizens, start=1):
                    erased += int(await sealer.erase(kid))
                    if progress is not None:
                        progress(n, len(plan.citizens))
                audit.detail["erased"] = erased
        return plan, erased

    async def rotate_kek(self) -> tuple[int, int]:
        """Rewrap every data key under the newest KEK: (rewrapped, already under it)."""
        sealer = self._needs_sealer()
        async with self.auditor.action(
            "privacy rotate-kek", {"kek": sealer.ring.current}, changes=True
        ) as audit:
            done, current = await sealer.rotate()
            audit.detail.update(rewrapped=done, current=current)
        return done, current
