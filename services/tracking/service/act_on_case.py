"""Staff act on a case: acknowledge, assign, ask the citizen, resume, resolve, reject, reroute ("not
ours"), note, reopen.

The action is checked against the case's current state by the same state machine that applies its
event, its free text sealed under the citizen's key (when the case's citizen has one), then published; the consumer applies it when it comes back (the API never writes a case).
A case is assigned only to a colleague of the agency holding it: a staff member may always take it
themselves (their token names their agency); anyone else must be on that agency's staff in the
directory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts.events import CaseStatus, Envelope, make_event
from services.common.clock import Clock
from services.common.publishing import Publisher
from services.common.sealing import Sealer, seal_envelope
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.directory import Directory
from services.tracking.domain.access import AGENCY_STAFF, Staff, check_action, check_agency
from services.tracking.domain.actions import (
    ActionKind,
    ActionRefused,
    ActionRequest,
    action_data,
    action_event_id,
    actor_for,
    status_after,
)
from services.tracking.domain.projection import Rejection, check
from services.tracking.domain.sla import SlaPolicy
from services.tracking.service.errors import ActionConflict, CaseNotFound, NotAColleague
from services.tracking.service.lookup import find_case

SOURCE = "/samad/tracking"

IDEMPOTENCY_REUSED = Rejection(
    "idempotency_key_reused",
    "این کلید تکرار (Idempotency-Key) پیش‌تر برای کار دیگری به کار رفته است",
    "This Idempotency-Key was already used for a different action",
)


@dataclass(frozen=True)
class ActionOutcome:
    case_id: str
    action: ActionKind
    event: Envelope
    status_after: CaseStatus | None
    repeated: bool  # the same Idempotency-Key was seen before: nothing new was published


class ActOnCase:
    def __init__(
        self,
        cases: CaseStore,
        publisher: Publisher,
        policy: SlaPolicy,
        clock: Clock,
        directory: Directory,
        sealer: Sealer | None = None,
    ) -> None:
        # Seals staff's free text (answer, reason, question, note) under the citizen's key, as the
        # case's own citizen fields are (docs/privacy.md); None: plain events.
        self.sealer = sealer
        self.cases = cases
        self.publisher = publisher
        self.policy = policy
        self.clock = clock
        self.directory = directory

    async def _colleague(self, request: ActionRequest, staff: Staff, agency: str | None) -> ActionRequest:
        """The assign request with the assignee's name, once they are known to work for ``agency``.
        Raises NotAColleague, or DirectoryUnavailable when the directory cannot say."""
        assignee = (request.assignee or "").strip()
        if not assignee or agency is None:
            return replace(request, assignee=None, assignee_name=None)
        if staff.role == AGENCY_STAFF and assignee == staff.subject and staff.agency == agency:
            return replace(request, assignee=assignee, assignee_name=staff.name)
        colleague = next((p for p in await self.directory.staff_of(agency) if p.id == assignee), None)
        if colleague is None:
            raise NotAColleague(assignee, agency)
        return replace(request, assignee=assignee, assignee_name=colleague.name)

    async def __call__(
        self, ref: str, request: ActionRequest, staff: Staff, idempotency_key: str | None = None
    ) -> ActionOutcome:
        """Check the action on the case ``ref`` names and publish its event.

        Raises ActionForbidden (the role never may), CaseNotFound, OtherAgency, MissingText,
        NotAColleague or DirectoryUnavailable (assign), or ActionConflict (not in the case's current
        state, or the Idempotency-Key was used for another action)."""
        check_action(staff, request.kind)
        case = await find_case(self.cases, ref)
        if case is None:
            raise CaseNotFound(ref)
        check_agency(staff, case.agency)
        if request.kind == ActionKind.assign:
            request = await self._colleague(request, staff, case.agency)
        event_id = action_event_id(case.id, idempotency_key, staff.subject)
        actor = actor_for(staff.role, staff.subject, staff.agency)
        try:
            data = action_data(case, request, actor)
        except ActionRefused as exc:
            raise ActionConflict(exc.rejection, case.status) from None
        registered = next((e.event_id for e in case.timeline if e.type.endswith("case.registered")), None)
        event = make_event(
            data, source=SOURCE, event_id=event_id, time=self.clock.now(), correlationid=registered or case.id
        )
        after = status_after(request.kind, data, case.status)
        seen = next((e for e in case.timeline if e.event_id == event_id), None)
        if seen is not None:
            same = seen.type == event.type and seen.data.get("status") == getattr(data, "status", None)
            if not same:
                raise ActionConflict(IDEMPOTENCY_REUSED, case.status)
            return ActionOutcome(case.id, request.kind, event, after, repeated=True)
        rejection = check(case, event, self.policy)
        if rejection is not None:
            raise ActionConflict(rejection, case.status)
        kid = case.citizen.key_id if case.citizen is not None else None
        if kid is not None:
            # A case registered before sealing (no key id) keeps its events plain.
            event = await seal_envelope(self.sealer, event, kid)
        await self.publisher.publish([event])
        return ActionOutcome(case.id, request.kind, event, after, repeated=False)
