"""An agency's queue on the fakes: scoped to the agency, filtered by status, overdue, county and days,
newest first, paged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.catalogue import AgencyCode
from services.tracking.domain.access import OtherAgency, Staff
from services.tracking.domain.periods import BadDate
from services.tracking.service.agency_queue import QueuePage
from tests.unit.tracking.factory import T0, CaseEvents
from tests.unit.tracking.fakes import Fakes

WATER = Staff("agency_staff", "u1", "water_wastewater")


async def queue_of_three() -> Fakes:
    fakes = Fakes()
    a = CaseEvents("qa", start=T0)
    b = CaseEvents("qb", start=T0 + timedelta(days=1))
    other = CaseEvents("qc", start=T0 + timedelta(days=2))
    await fakes.consume(
        [
            a.registered(),
            a.routed(),
            b.registered(county="neyshabur"),
            b.routed(),
            b.acknowledged(),
            other.registered(),
            other.routed(AgencyCode.education),
        ]
    )
    return fakes


async def test_the_queue_lists_the_agency_cases_newest_first_without_timelines() -> None:
    fakes = await queue_of_three()
    page = await fakes.tracking.agency_queue(WATER, "water_wastewater")
    assert page.total == 2 and [i["case_id"] for i in page.items] == ["qb", "qa"]
    assert "timeline" not in page.items[0]
    second = await fakes.tracking.agency_queue(WATER, "water_wastewater", page=2, page_size=1)
    assert second.total == 2 and [i["case_id"] for i in second.items] == ["qa"]
    with pytest.raises(OtherAgency):
        await fakes.tracking.agency_queue(WATER, "education")
    everyone = await fakes.tracking.agency_queue(Staff("ops", "o"), "education")
    assert [i["case_id"] for i in everyone.items] == ["qc"]


def ids(page: QueuePage) -> list[str]:
    return [i["case_id"] for i in page.items]


async def test_the_queue_filters() -> None:
    fakes = await queue_of_three()
    queue = fakes.tracking.agency_queue
    assert ids(await queue(WATER, "water_wastewater", county="neyshabur")) == ["qb"]
    assert ids(await queue(WATER, "water_wastewater", status="routed")) == ["qa"]
    day_a = T0.date().isoformat()
    assert ids(await queue(WATER, "water_wastewater", registered_from=day_a, registered_to=day_a)) == ["qa"]
    assert ids(await queue(WATER, "water_wastewater", registered_from="1405-09-05")) == ["qb"]
    with pytest.raises(BadDate) as bad:
        await queue(WATER, "water_wastewater", registered_from="not-a-date")
    assert bad.value.field == "from"
    # Nothing is overdue an hour in; a month later both are (acknowledge, then resolve deadlines).
    assert ids(await queue(WATER, "water_wastewater", overdue=True)) == []
    assert ids(await queue(WATER, "water_wastewater", overdue=False)) == ["qb", "qa"]
    fakes.clock.advance(timedelta(days=30))
    late = await queue(WATER, "water_wastewater", overdue=True)
    assert ids(late) == ["qb", "qa"] and all(i["overdue"] for i in late.items)
    assert ids(await queue(WATER, "water_wastewater", overdue=False)) == []


async def test_the_open_view_lists_what_the_agency_still_holds() -> None:
    fakes = await queue_of_three()
    done = CaseEvents("qd", start=T0 + timedelta(days=3))
    await fakes.consume([done.registered(), done.routed(), done.acknowledged(), done.resolved()])
    queue = fakes.tracking.agency_queue
    assert ids(await queue(WATER, "water_wastewater")) == ["qd", "qb", "qa"]
    assert ids(await queue(WATER, "water_wastewater", status="open")) == ["qb", "qa"]
    assert ids(await queue(WATER, "water_wastewater", status="resolved")) == ["qd"]
