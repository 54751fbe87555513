"""Looking a case up: staff by case id or tracking code, with the whole timeline, within their agency."""

from __future__ import annotations

from typing import Any

from contracts.tracking_code import clean, is_valid
from services.common.clock import Clock
from services.common.sealing import Sealer
from services.tracking.adapters.cases import CaseStore
from services.tracking.domain.access import Staff, check_agency
from services.tracking.domain.calendar import WorkCalendar
from services.tracking.domain.citizens import national_id_key, phone_key
from services.tracking.domain.model import Case
from services.tracking.domain.views import FINISHED, staff_view, summary_view
from services.tracking.service.errors import CaseNotFound
from services.tracking.service.opening import CaseOpener


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
        opener: CaseOpener | None = None,
    ) -> None:
        self.opener = opener or CaseOpener(None)
        self.cases = cases
        self.clock = clock
        self.calendar = calendar

    async def visible(self, ref: str, staff: Staff) -> Case:
        """The case ``ref`` names, if ``staff`` may see it. Raises CaseNotFound or OtherAgency."""
        case = await find_case(self.cases, ref)
        if case is None:
            raise CaseNotFound(ref)
        check_agency(staff, case.agency)
        return case

    async def __call__(self, ref: str, staff: Staff) -> dict[str, Any]:
        """The staff view of the case: every field, overdue now, its deadlines, the timeline."""
        case = await self.opener(await self.visible(ref, staff))
        return staff_view(case, self.clock.now(), calendar=self.calendar)


class FindCitizenCases:
    """A citizen's cases by phone or national id, newest first, for the operator's screen-pop and the
    staff search; agency staff see only their agency's."""

    def __init__(self, cases: CaseStore, clock: Clock, sealer: Sealer | None = None) -> None:
        self.cases = cases
        self.clock = clock
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
        self, staff: Staff, *, phone: str | None, national_id: str | None, open_only: bool, limit: int
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
        return [summary_view(c, now) for c in chosen[:limit]]
