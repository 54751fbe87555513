"""Finding a case at the desk by the ten digits an operator types: a tracking code or a national id."""

from __future__ import annotations

import asyncio
from typing import Any

from contracts.tracking_code import from_seed
from services.common.clock import SystemClock
from services.console.adapters.platform import ApiRefused
from services.console.service.desk import Desk

CODE = from_seed("a case")  # ten digits that pass the tracking code's check digit
NOT_A_CODE = CODE[:9] + str((int(CODE[9]) + 1) % 10)  # the same with a wrong check digit


class Tracking:
    """Tracking's two lookups; each takes a while, and they are told apart by what they were asked."""

    def __init__(self, has_case: bool = True) -> None:
        self.has_case = has_case
        self.asked: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def _wait(self, what: str) -> None:
        self.asked.append(what)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1

    async def caller_cases(self, token: str, **by: Any) -> list[dict[str, Any]]:
        await self._wait(f"national_id={by['national_id']}")
        return [{"case_id": "own-case"}, {"case_id": "found-by-code"}]

    async def case(self, token: str, ref: str) -> dict[str, Any]:
        await self._wait(f"case={ref}")
        if not self.has_case:
            raise ApiRefused(404, "not found", [])
        return {"case_id": "found-by-code"}


async def test_a_tracking_code_and_a_national_id_are_looked_up_at_once() -> None:
    tracking = Tracking()
    kind, found = await Desk(tracking, SystemClock()).find("token", CODE)  # type: ignore[arg-type]
    assert kind == "tracking_code"
    assert [c["case_id"] for c in found] == ["found-by-code", "own-case"]
    assert sorted(tracking.asked) == [f"case={CODE}", f"national_id={CODE}"]
    assert tracking.most_in_flight == 2


async def test_ten_digits_that_are_no_tracking_code_are_a_national_id_only() -> None:
    tracking = Tracking()
    kind, found = await Desk(tracking, SystemClock()).find("token", NOT_A_CODE)  # type: ignore[arg-type]
    assert kind == "national_id"
    assert len(found) == 2
    assert tracking.asked == [f"national_id={NOT_A_CODE}"]


async def test_a_valid_code_of_no_case_falls_back_to_the_national_id() -> None:
    tracking = Tracking(has_case=False)
    kind, found = await Desk(tracking, SystemClock()).find("token", CODE)  # type: ignore[arg-type]
    assert kind == "national_id"
    assert [c["case_id"] for c in found] == ["own-case", "found-by-code"]
