"""Looking a case up: staff by case id or tracking code, with the whole timeline, within their agency."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from contracts.tracking_code import clean, is_valid
from services.common.clock import Clock
from services.common.sealing import Sealer
from services.tracking.adapters.cases import CaseStore
from services.tracking.domain.access import Staff, check_agency
from services.tracking.domain.audit import ReadContext
from services.tracking.domain.calendar import WorkCalendar
from services.tracking.domain.citizens import national_id_key, phone_key
from services.tracking.domain.model import Case
from services.tracking.domain.privacy import disclosed, disclosure
from services.tracking.domain.views import FINISHED, staff_view, summary_view
from services.tracking.service.errors import CaseNotFound
from services.tracking.service.opening import CaseOpener
from services.tracking.service.read_audit import AuditTrail


async def find_case(cases: CaseStore, ref: str) -> Case | None:
    """A registered case by its id or by its tracking code (Persian digits, spaces and dashes allowed)."""
    ref = ref.strip()
    case = await cases.get(ref)
    if case is not None and case.registered:
        return case
    code = clean(ref)
    if code.isdigit() and is_valid(code):
        return await cases.by_tracking_code(code)
    return None


class LookUpCase:
    def __init__(
        self,
        cases: CaseStore,
        clock: Clock,
        calendar: WorkCalendar | None = None,
        trail: AuditTrail | None = None,
        opener: CaseOpener | None = None,
    ) -> None:
        self.opener = opener or CaseOpener(None)
        self.cases = cases
        self.clock = clock
        self.calendar = calendar
        self.trail = trail

    async def visible(self, ref: str, staff: Staff) -> Case:
        """The case ``ref`` names, if ``staff`` may see it. Raises CaseNotFound or OtherAgency."""
        case = await find_case(self.cases, ref)
        if case is None:
            raise CaseNotFound(ref)
        check_agency(staff, case.agency)
        return case

    async def __call__(
        self, ref: str, staff: Staff, ctx: ReadContext | None = None, looked_up: Collection[str] = ()
    ) -> dict[str, Any]:
        """The staff view of the case: every field, overdue now, its deadlines, the timeline; the
        personal fields masked unless ``staff`` may see them (``looked_up``: the caller's citizen keys
        the request names). The read is recorded in the audit when ``ctx`` says where it comes from."""
        case = await self.opener(await self.visible(ref, staff))
        how = disclosure(staff, case, looked_up)
        if self.trail is not None and ctx is not None:
            self.trail.record(staff, ctx, [(case.id, how)])
        return disclosed(staff_view(case, self.clock.now(), calendar=self.calendar), how)


class FindCitizenCases:
    """A citizen's cases by phone or national id, newest first, for the operator's screen-pop and the
    staff search; agency staff see only their agency's."""

    def __init__(
        self, cases: CaseStore, clock: Clock, trail: AuditTrail | None = None, sealer: Sealer | None = None
    ) -> None:
        self.cases = cases
        self.clock = clock
        self.trail = trail
        self.sealer = sealer

    def _keys(self, phone: str | None, national_id: str | None) -> list[str]:
        """The index keys to look under: the plain ones (cases from before sealing) and, with sealing,
        the HMAC ones (docs/privacy.md)."""
        keys: list[str] = []
        if phone:
            plain = phone_key(phone)
            keys.append(plain)
            if self.sealer is not None:
                keys.append("kid:" + self.sealer.key_id(plain.removeprefix("phone:")))
        if national_id:
            plain = national_id_key(national_id)
            keys.append(plain)
            if self.sealer is not None:
                keys.append("nidx:" + self.sealer.national_id_index(plain.removeprefix("nid:")))
        return keys

    async def __call__(
        self,
        staff: Staff,
        *,
        phone: str | None,
        national_id: str | None,
        open_only: bool,
        limit: int,
        ctx: ReadContext | None = None,
    ) -> list[dict[str, Any]]:
        keys = self._keys(phone, national_id)
        found: dict[str, Case] = {}
        for key in keys:
            for case in await self.cases.by_citizen(key, limit):
                found[case.id] = case
        now = self.clock.now()
        chosen = [
            c for c in found.values() if (not open_only or c.status not in FINISHED) and staff.sees(c.agency)
        ]
        chosen.sort(key=lambda c: c.registered_at or now, reverse=True)
        shown = [(c, disclosure(staff, c, keys)) for c in chosen[:limit]]
        if self.trail is not None and ctx is not None:
            self.trail.record(staff, ctx, [(c.id, how) for c, how in shown])
        return [disclosed(summary_view(c, now), how) for c, how in shown]
